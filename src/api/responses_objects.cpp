#include "api/responses_objects.hpp"

#include "api/responses_request_parser.hpp"
#include "common/json_get.hpp"
#include "common/tool_calls.hpp"

#include <algorithm>

namespace llmp::api {
namespace {

using json = nlohmann::json;

std::string hex_of(const std::string& request_id) {
    std::string h = request_id;
    h.erase(std::remove(h.begin(), h.end(), '-'), h.end());
    return h;
}

bool has_calls(const response_outcome& o) {
    return o.tool_calls.is_array() && !o.tool_calls.empty();
}

}  // namespace

response_outcome outcome_of(const final_message& f, const std::string& text, std::int64_t completed_at) {
    response_outcome o;
    o.status = f.done_reason == "length" ? "incomplete" : "completed";
    o.text = text;
    o.tool_calls = f.tool_calls.is_array() ? f.tool_calls : json::array();
    o.has_usage = true;
    o.input_tokens = f.prompt_tokens;
    o.output_tokens = f.completion_tokens;
    o.completed_at = completed_at;
    return o;
}

std::string message_item_id(const std::string& request_id) {
    return "msg_" + hex_of(request_id);
}

std::string function_call_item_id(const std::string& request_id, std::size_t index) {
    return "fc_" + hex_of(request_id) + "_" + std::to_string(index);
}

json message_item(const std::string& request_id, const std::string& text, const std::string& status) {
    json content = json::array();
    if (status != "in_progress") {
        content.push_back(
            {{"type", "output_text"}, {"text", text}, {"annotations", json::array()}, {"logprobs", json::array()}});
    }
    return {{"id", message_item_id(request_id)},
            {"type", "message"},
            {"status", status},
            {"role", "assistant"},
            {"content", std::move(content)}};
}

json function_call_item(const std::string& request_id, std::size_t index, const json& call, const std::string& status,
                        bool with_arguments) {
    const json fn = call.is_object() && call.contains("function") ? call["function"] : json::object();
    return {{"id", function_call_item_id(request_id, index)},
            {"type", "function_call"},
            {"status", status},
            {"call_id", get_or<std::string>(call, "id", "")},
            {"name", get_or<std::string>(fn, "name", "")},
            {"arguments", with_arguments ? get_or<std::string>(fn, "arguments", "") : std::string{}}};
}

json output_items(const std::string& request_id, const response_outcome& o) {
    json out = json::array();
    if (o.status == "in_progress" || o.status == "queued") {
        if (!o.text.empty()) {  // a background generation's text so far (GET while it runs)
            auto item = message_item(request_id, o.text, "completed");
            item["status"] = "in_progress";
            out.push_back(std::move(item));
        }
        return out;
    }
    auto item_status = o.status == "incomplete" ? "incomplete" : "completed";
    if (!o.text.empty() || !has_calls(o)) {
        if (o.status != "failed" || !o.text.empty()) {
            out.push_back(message_item(request_id, o.text, item_status));
        }
    }
    if (has_calls(o)) {
        for (std::size_t i = 0; i < o.tool_calls.size(); ++i) {
            out.push_back(function_call_item(request_id, i, o.tool_calls[i], "completed"));
        }
    }
    return out;
}

json response_object(const response_head& h, const response_outcome& o) {
    json r = {{"id", response_id_of(h.request_id)},
              {"object", "response"},
              {"created_at", h.created_at},
              {"status", o.status},
              {"background", false},
              {"completed_at", o.completed_at > 0 ? json(o.completed_at) : json(nullptr)},
              {"error", nullptr},
              {"incomplete_details", nullptr},
              {"model", h.model},
              {"output", output_items(h.request_id, o)},
              {"usage", nullptr}};
    if (o.status == "failed") {
        r["error"] = {{"code", o.error_code.empty() ? "server_error" : o.error_code}, {"message", o.error_message}};
    }
    if (o.status == "incomplete") {
        r["incomplete_details"] = {{"reason", "max_output_tokens"}};
    }
    if (o.has_usage) {
        r["usage"] = {{"input_tokens", o.input_tokens},
                      {"input_tokens_details", {{"cached_tokens", 0}}},
                      {"output_tokens", o.output_tokens},
                      {"output_tokens_details", {{"reasoning_tokens", 0}}},
                      {"total_tokens", o.input_tokens + o.output_tokens}};
    }
    if (h.echo.is_object()) {
        for (const auto& [k, v] : h.echo.items()) {
            r[k] = v;
        }
    }
    return r;
}

json assistant_message(const response_outcome& o) {
    json m = {{"role", "assistant"}, {"content", o.text}};
    if (has_calls(o)) {
        m["tool_calls"] = tool_calls_to_ollama(o.tool_calls);
    }
    return m;
}

}  // namespace llmp::api

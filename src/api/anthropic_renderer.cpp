#include "api/anthropic_renderer.hpp"

#include "common/errc.hpp"
#include "common/json_escape.hpp"
#include "common/json_get.hpp"
#include "http/chunked_response.hpp"
#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

namespace llmp::api {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// One SSE event the way Anthropic writes it: the event's type twice, as the event name and
/// as the payload's "type" (the SDK dispatches on the name and parses the data).
void append_event(std::string& out, std::string_view type, std::string_view payload) {
    out.append("event: ").append(type).append("\ndata: ").append(payload).append("\n\n");
}

json error_object(std::string_view type, const std::string& message) {
    return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

json usage_json(const final_message& f) {
    return {{"input_tokens", f.prompt_tokens}, {"output_tokens", f.completion_tokens}};
}

/// A call's arguments (contract shape: JSON text) as the tool_use block's input object; text
/// that is not a JSON object becomes {} (the SDKs' types say input is an object).
json input_of(const json& fn) {
    auto parsed = json::parse(get_or<std::string>(fn, "arguments", ""), nullptr, false);
    return parsed.is_object() ? parsed : json::object();
}

/// The tool_use blocks of a final's calls (entries without a function are skipped).
std::vector<json> tool_use_blocks(const json& calls) {
    std::vector<json> out;
    if (!calls.is_array()) {
        return out;
    }
    for (const auto& c : calls) {
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) {
            continue;
        }
        const auto& fn = c["function"];
        out.push_back({{"type", "tool_use"},
                       {"id", get_or<std::string>(c, "id", "")},
                       {"name", get_or<std::string>(fn, "name", "")},
                       {"input", input_of(fn)}});
    }
    return out;
}

class anthropic_renderer final : public stream_renderer {
public:
    explicit anthropic_renderer(anthropic_reply_options o) : o_{std::move(o)} {}

    bool streaming() const override { return o_.stream; }
    std::string_view content_type() const override { return "text/event-stream"; }
    std::vector<std::pair<std::string, std::string>> stream_headers() const override {
        return http_server::sse_headers();
    }

    void start(std::string& out, const request_message& m) override {
        json message = {{"id", id_for(m.request_id)}, {"type", "message"},
                        {"role", "assistant"},        {"model", o_.model},
                        {"content", json::array()},   {"stop_reason", nullptr},
                        {"stop_sequence", nullptr},   {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}};
        append_event(out, "message_start", dump(json{{"type", "message_start"}, {"message", std::move(message)}}));
        keepalive(out);  // Anthropic's first ping comes right after the start too
    }

    void token(std::string& out, std::string_view text, std::int64_t) override {
        if (!text_open_) {
            open_text_block(out);
        }
        scratch_.assign(R"({"type":"content_block_delta","index":)");
        scratch_.append(std::to_string(text_index_)).append(R"(,"delta":{"type":"text_delta","text":)");
        append_json_string(scratch_, text);
        scratch_.append("}}");
        append_event(out, "content_block_delta", scratch_);
    }

    void done(std::string& out, const final_message& f, const relay_timings&) override {
        auto tools = tool_use_blocks(f.tool_calls);
        if (!text_open_ && tools.empty()) {
            open_text_block(out);  // an empty answer is one empty text block, as whole
        }
        if (text_open_) {
            stop_block(out, text_index_);
        }
        for (auto& block : tools) {
            auto input = dump(block["input"]);
            block["input"] = json::object();  // the input comes as deltas, as Anthropic streams it
            append_event(out, "content_block_start",
                         dump(json{{"type", "content_block_start"}, {"index", next_index_}, {"content_block", block}}));
            json delta = {{"type", "content_block_delta"},
                          {"index", next_index_},
                          {"delta", {{"type", "input_json_delta"}, {"partial_json", input}}}};
            append_event(out, "content_block_delta", dump(delta));
            stop_block(out, next_index_++);
        }
        json message_delta = {
            {"type", "message_delta"},
            {"delta", {{"stop_reason", anthropic_stop_reason(f.done_reason)}, {"stop_sequence", nullptr}}},
            {"usage", usage_json(f)}};
        append_event(out, "message_delta", dump(message_delta));
        append_event(out, "message_stop", R"({"type":"message_stop"})");
    }

    void error(std::string& out, const error_message& e) override {
        auto status = reply_policy(e.code, e.retryable).http_status;
        append_event(out, "error", dump(error_object(anthropic_error_type(status), e.message)));
    }

    void keepalive(std::string& out) override { append_event(out, "ping", R"({"type":"ping"})"); }

    http_server::response complete(const final_message& f, const std::string& text, const relay_timings& t) override {
        json content = json::array();
        auto tools = tool_use_blocks(f.tool_calls);
        if (!text.empty() || tools.empty()) {
            content.push_back({{"type", "text"}, {"text", text}});
        }
        for (auto& block : tools) {
            content.push_back(std::move(block));
        }
        json body = {{"id", id_for(t.request_id)},    {"type", "message"},
                     {"role", "assistant"},           {"model", o_.model},
                     {"content", std::move(content)}, {"stop_reason", anthropic_stop_reason(f.done_reason)},
                     {"stop_sequence", nullptr},      {"usage", usage_json(f)}};
        return http_server::json_response(http::status::ok, body);
    }

    http_server::response failure(const llmp::error& e) override { return anthropic_error_response(e); }

private:
    static std::string id_for(const std::string& request_id) { return "msg_" + request_id; }

    void open_text_block(std::string& out) {
        text_index_ = next_index_++;
        text_open_ = true;
        append_event(out, "content_block_start",
                     R"({"type":"content_block_start","index":)" + std::to_string(text_index_) +
                         R"(,"content_block":{"type":"text","text":""}})");
    }

    static void stop_block(std::string& out, int index) {
        append_event(out, "content_block_stop",
                     R"({"type":"content_block_stop","index":)" + std::to_string(index) + "}");
    }

    anthropic_reply_options o_;
    bool text_open_ = false;
    int text_index_ = 0;
    int next_index_ = 0;  ///< the index of the next content block
    std::string scratch_;
};

}  // namespace

std::unique_ptr<stream_renderer> make_anthropic_renderer(anthropic_reply_options o) {
    return std::make_unique<anthropic_renderer>(std::move(o));
}

std::string_view anthropic_stop_reason(const std::string& done_reason) {
    if (done_reason == "length") {
        return "max_tokens";
    }
    if (done_reason == "tool_calls") {
        return "tool_use";
    }
    if (done_reason == "stop_sequence") {
        return "stop_sequence";
    }
    return "end_turn";
}

std::string_view anthropic_error_type(int http_status) {
    switch (http_status) {
        case 401:
            return "authentication_error";
        case 403:
            return "permission_error";
        case 404:
            return "not_found_error";
        case 413:
            return "request_too_large";
        case 429:
            return "rate_limit_error";
        case 503:
            return "overloaded_error";
        case 504:
            return "timeout_error";
        default:
            return http_status < 500 ? "invalid_request_error" : "api_error";
    }
}

http_server::response anthropic_error_response(const llmp::error& e) {
    auto policy = reply_policy(e.code, e.retryable);
    auto res = http_server::error_response(e, error_object(anthropic_error_type(policy.http_status), e.message));
    if (policy.http_status >= 500 && !policy.retryable) {
        res.set("x-should-retry", "false");
    }
    return res;
}

}  // namespace llmp::api

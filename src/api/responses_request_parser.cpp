#include "api/responses_request_parser.hpp"

#include "api/field_checks.hpp"
#include "api/json_body.hpp"
#include "common/ids.hpp"
#include "common/json_get.hpp"
#include "common/json_limits.hpp"

#include <algorithm>

namespace llmp::api {
namespace {

using json = nlohmann::json;

constexpr std::string_view response_prefix = "resp_";

auto invalid(const std::string& what) {
    return fail("invalid_field", what);
}

/// An item id the way OpenAI makes them: a prefix and hex.
std::string new_item_id(std::string_view prefix) {
    auto u = new_uuid();
    u.erase(std::remove(u.begin(), u.end(), '-'), u.end());
    return std::string{prefix} + u;
}

/// A message item's content as one string and as normalized parts: a string, or parts of type
/// input_text / output_text (the providers take text only).
result<std::string> content_text(const json& content, const std::string& where, json& parts, bool assistant) {
    const char* part_type = assistant ? "output_text" : "input_text";
    if (content.is_string()) {
        json part = {{"type", part_type}, {"text", content}};
        if (assistant) {
            part["annotations"] = json::array();
        }
        parts.push_back(std::move(part));
        return content.get<std::string>();
    }
    if (!content.is_array()) {
        return invalid(where + " must be a string or an array of input_text parts");
    }
    std::string text;
    for (std::size_t i = 0; i < content.size(); ++i) {
        const auto& part = content[i];
        auto at = where + "[" + std::to_string(i) + "]";
        auto type = get_or<std::string>(part, "type", "");
        if (type != "input_text" && type != "output_text" && type != "text") {
            return invalid(at +
                           ".type must be \"input_text\" (or \"output_text\" in an assistant message): only "
                           "text content is supported");
        }
        auto t = part.find("text");
        if (t == part.end() || !t->is_string()) {
            return invalid(at + ".text must be a string");
        }
        json p = {{"type", part_type}, {"text", *t}};
        if (assistant) {
            p["annotations"] = json::array();
        }
        parts.push_back(std::move(p));
        text += t->get_ref<const std::string&>();
    }
    return text;
}

/// A function call's arguments text -> the object Ollama's shape carries.
result<json> arguments_object(const json& args, const std::string& where) {
    if (!args.is_string()) {
        return invalid(where + " must be a string (the call's arguments as JSON text)");
    }
    // Bounded: the object moves into the request message, under 7 levels of it.
    auto parsed = parse_json_bounded(args.get_ref<const std::string&>(), max_request_json_depth - 8);
    if (!parsed || !parsed.value().is_object()) {
        return invalid(where + " must be a JSON object (as text), nested at most " +
                       std::to_string(max_request_json_depth - 8) + " levels");
    }
    return std::move(parsed.value());
}

/// One message item -> its Ollama message and its normalized item.
result<void> take_message(const json& item, const std::string& where, json& messages, json& items) {
    auto role = get_or<std::string>(item, "role", "");
    if (role != "user" && role != "system" && role != "developer" && role != "assistant") {
        return invalid(where + ".role must be one of user, system, developer, assistant");
    }
    auto content = item.find("content");
    if (content == item.end()) {
        return invalid(where + ".content is required (a string or an array of input_text parts)");
    }
    json parts = json::array();
    auto text = content_text(*content, where + ".content", parts, role == "assistant");
    if (!text) {
        return text.error();
    }
    messages.push_back({{"role", role == "developer" ? "system" : role}, {"content", std::move(text.value())}});
    auto id = get_or<std::string>(item, "id", "");
    items.push_back({{"id", id.empty() ? new_item_id("msg_") : id},
                     {"type", "message"},
                     {"role", role},
                     {"status", "completed"},
                     {"content", std::move(parts)}});
    return ok();
}

/// A function_call item (a call the model made earlier, sent back by the client) -> an
/// assistant tool call, joined to the assistant message just before it when there is one.
result<void> take_function_call(const json& item, const std::string& where, json& messages, json& items) {
    auto call_id = item.find("call_id");
    auto name = item.find("name");
    if (call_id == item.end() || !call_id->is_string() || name == item.end() || !name->is_string() ||
        name->get_ref<const std::string&>().empty()) {
        return invalid(where + " must be {\"type\": \"function_call\", \"call_id\", \"name\", \"arguments\"}");
    }
    auto args = item.find("arguments");
    json arguments_text = args == item.end() ? json("{}") : *args;
    auto arguments = arguments_object(arguments_text, where + ".arguments");
    if (!arguments) {
        return arguments.error();
    }
    if (messages.empty() || get_or<std::string>(messages.back(), "role", "") != "assistant") {
        messages.push_back({{"role", "assistant"}, {"content", ""}});
    }
    auto& calls = messages.back()["tool_calls"];
    if (!calls.is_array()) {
        calls = json::array();
    }
    calls.push_back(
        {{"id", *call_id},
         {"function", {{"index", calls.size()}, {"name", *name}, {"arguments", std::move(arguments.value())}}}});
    auto id = get_or<std::string>(item, "id", "");
    items.push_back({{"id", id.empty() ? new_item_id("fc_") : id},
                     {"type", "function_call"},
                     {"call_id", *call_id},
                     {"name", *name},
                     {"arguments", arguments_text},
                     {"status", "completed"}});
    return ok();
}

/// A function_call_output item (what the application's tool answered) -> a tool message.
result<void> take_function_output(const json& item, const std::string& where, json& messages, json& items) {
    auto call_id = item.find("call_id");
    if (call_id == item.end() || !call_id->is_string()) {
        return invalid(where + ".call_id is required (the call_id of the function_call it answers)");
    }
    auto output = item.find("output");
    if (output == item.end()) {
        return invalid(where + ".output is required (a string)");
    }
    json parts = json::array();
    auto text = content_text(*output, where + ".output", parts, false);
    if (!text) {
        return text.error();
    }
    messages.push_back({{"role", "tool"}, {"content", std::move(text.value())}, {"tool_call_id", *call_id}});
    auto id = get_or<std::string>(item, "id", "");
    items.push_back({{"id", id.empty() ? new_item_id("fco_") : id},
                     {"type", "function_call_output"},
                     {"call_id", *call_id},
                     {"output", *output},
                     {"status", "completed"}});
    return ok();
}

result<void> take_input(const json& input, json& messages, json& items) {
    if (input.is_string()) {
        json item = {{"role", "user"}, {"content", input}};
        return take_message(item, "input", messages, items);
    }
    if (!input.is_array() || input.empty()) {
        return invalid("input must be a string or a non-empty array of items");
    }
    for (std::size_t i = 0; i < input.size(); ++i) {
        const auto& item = input[i];
        auto where = "input[" + std::to_string(i) + "]";
        if (!item.is_object()) {
            return invalid(where + " must be an object");
        }
        auto type = get_or<std::string>(item, "type", "message");
        result<void> r = ok();
        if (type == "message") {
            r = take_message(item, where, messages, items);
        } else if (type == "function_call") {
            r = take_function_call(item, where, messages, items);
        } else if (type == "function_call_output") {
            r = take_function_output(item, where, messages, items);
        } else {
            return invalid(where + ".type '" + type +
                           "' is not supported: only message, function_call and function_call_output items are");
        }
        if (!r) {
            return r.error();
        }
    }
    return ok();
}

/// tools: [{type:"function", name, description?, parameters?, strict?}] -> chat-completions
/// shape {type:"function", function:{name, description, parameters, strict}}.
result<json> translate_tools(const json& tools) {
    if (!tools.is_array()) {
        return invalid("tools must be an array of {\"type\": \"function\", \"name\", \"parameters\"} objects");
    }
    json out = json::array();
    for (std::size_t i = 0; i < tools.size(); ++i) {
        const auto& t = tools[i];
        auto at = "tools[" + std::to_string(i) + "]";
        if (!t.is_object() || get_or<std::string>(t, "type", "") != "function") {
            return invalid(at + ".type must be \"function\": only function tools are supported");
        }
        auto name = t.find("name");
        if (name == t.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
            return invalid(at + ".name is required (a non-empty string)");
        }
        json fn = {{"name", *name}};
        for (const char* field : {"description", "parameters", "strict"}) {
            if (auto v = t.find(field); v != t.end() && !v->is_null()) {
                fn[field] = *v;
            }
        }
        if (fn.contains("parameters") && !fn["parameters"].is_object()) {
            return invalid(at + ".parameters must be an object (a JSON Schema)");
        }
        out.push_back({{"type", "function"}, {"function", std::move(fn)}});
    }
    return out;
}

/// tool_choice: "none" | "auto" | "required" | {type:"function", name} -> chat-completions shape.
result<json> translate_tool_choice(const json& choice) {
    if (choice.is_string()) {
        const auto& c = choice.get_ref<const std::string&>();
        if (c == "none" || c == "auto" || c == "required") {
            return choice;
        }
    } else if (choice.is_object() && get_or<std::string>(choice, "type", "") == "function" && choice.contains("name") &&
               choice["name"].is_string()) {
        return json{{"type", "function"}, {"function", {{"name", choice["name"]}}}};
    }
    return invalid("tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"name\"}");
}

/// text.format -> the Ollama format ("json", a schema) and the chat-completions response_format.
result<void> take_text_format(const json& text, json& extra) {
    if (!text.is_object()) {
        return invalid("text must be an object ({\"format\": {\"type\": ...}})");
    }
    auto format = text.find("format");
    if (format == text.end() || format->is_null()) {
        return ok();
    }
    auto type = get_or<std::string>(*format, "type", "");
    if (type == "text") {
        return ok();
    }
    if (type == "json_object") {
        extra["format"] = "json";
        extra["response_format"] = {{"type", "json_object"}};
        return ok();
    }
    if (type != "json_schema") {
        return invalid("text.format.type must be one of text, json_object, json_schema");
    }
    auto schema = format->find("schema");
    if (schema == format->end() || !schema->is_object()) {
        return invalid("text.format.schema must be an object (a JSON Schema)");
    }
    json js = {{"name", get_or<std::string>(*format, "name", "response")}, {"schema", *schema}};
    for (const char* field : {"strict", "description"}) {
        if (auto v = format->find(field); v != format->end() && !v->is_null()) {
            js[field] = *v;
        }
    }
    extra["format"] = *schema;
    extra["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(js)}};
    return ok();
}

result<void> take_sampling(const json& j, request_message& m, json& echo) {
    auto max_tokens = integer_field(j, "max_output_tokens", 1, int32_max);
    if (!max_tokens) {
        return max_tokens.error();
    }
    if (max_tokens.value()) {
        m.options["num_predict"] = *max_tokens.value();
        echo["max_output_tokens"] = *max_tokens.value();
    }
    struct range {
        const char* name;
        double lo, hi;
    };
    for (auto r : {range{"temperature", 0, 2}, range{"top_p", 0, 1}}) {
        auto v = number_field(j, r.name, r.lo, r.hi);
        if (!v) {
            return v.error();
        }
        if (v.value()) {
            m.options[r.name] = *j.find(r.name);  // as sent: 0.5 stays 0.5, 1 stays 1
            echo[r.name] = *j.find(r.name);
        }
    }
    return ok();
}

result<void> take_tools(const json& j, request_message& m, json& echo) {
    if (auto tools = j.find("tools"); tools != j.end() && !tools->is_null()) {
        auto translated = translate_tools(*tools);
        if (!translated) {
            return translated.error();
        }
        echo["tools"] = *tools;
        if (!translated.value().empty()) {
            m.extra["tools"] = std::move(translated.value());
        }
    }
    if (auto choice = j.find("tool_choice"); choice != j.end() && !choice->is_null()) {
        auto translated = translate_tool_choice(*choice);
        if (!translated) {
            return translated.error();
        }
        if (!m.extra.contains("tools")) {
            return invalid("tool_choice is only allowed when tools are given");
        }
        echo["tool_choice"] = *choice;
        m.extra["tool_choice"] = std::move(translated.value());
    }
    if (auto p = j.find("parallel_tool_calls"); p != j.end() && !p->is_null()) {
        if (!p->is_boolean()) {
            return invalid("parallel_tool_calls must be true or false");
        }
        echo["parallel_tool_calls"] = *p;
        if (m.extra.contains("tools")) {
            m.extra["parallel_tool_calls"] = *p;
        }
    }
    return ok();
}

/// An optional boolean field into `out`.
result<void> take_bool(const json& j, const char* name, bool& out) {
    if (auto v = j.find(name); v != j.end() && !v->is_null()) {
        if (!v->is_boolean()) {
            return invalid(std::string{name} + " must be true or false");
        }
        out = v->get<bool>();
    }
    return ok();
}

/// The echo with OpenAI's defaults for what the client did not send.
json default_echo() {
    return {{"instructions", nullptr},         {"tools", json::array()},
            {"tool_choice", "auto"},           {"parallel_tool_calls", true},
            {"temperature", nullptr},          {"top_p", nullptr},
            {"max_output_tokens", nullptr},    {"text", {{"format", {{"type", "text"}}}}},
            {"previous_response_id", nullptr}, {"store", true},
            {"metadata", json::object()}};
}

}  // namespace

result<responses_request> parse_responses_request(std::string_view body) {
    auto parsed = parse_json_object(body);
    if (!parsed) {
        return parsed.error();
    }
    const json j = std::move(parsed.value());
    responses_request r;
    auto& m = r.msg;
    m.kind = request_kind::chat;
    m.api_flavour = "openai";
    m.stream = false;
    r.echo = default_echo();

    auto model = j.find("model");
    if (model == j.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return fail("missing_field", "model is required (one of the ids GET /v1/models lists)");
    }
    m.model = model->get<std::string>();

    auto input = j.find("input");
    if (input == j.end() || input->is_null()) {
        return fail("missing_field", "input is required (a string or an array of items)");
    }
    if (auto v = take_input(*input, m.messages, r.input_items); !v) {
        return v.error();
    }
    if (auto ins = j.find("instructions"); ins != j.end() && !ins->is_null()) {
        if (!ins->is_string()) {
            return invalid("instructions must be a string");
        }
        if (!ins->get_ref<const std::string&>().empty()) {
            m.extra["system"] = *ins;
        }
        r.echo["instructions"] = *ins;
    }
    if (auto v = take_sampling(j, m, r.echo); !v) {
        return v.error();
    }
    if (auto v = take_tools(j, m, r.echo); !v) {
        return v.error();
    }
    if (auto text = j.find("text"); text != j.end() && !text->is_null()) {
        if (auto v = take_text_format(*text, m.extra); !v) {
            return v.error();
        }
        if (text->contains("format") && !(*text)["format"].is_null()) {
            r.echo["text"] = {{"format", (*text)["format"]}};
        }
    }
    if (auto v = take_bool(j, "stream", m.stream); !v) {
        return v.error();
    }
    if (auto v = take_bool(j, "store", r.store); !v) {
        return v.error();
    }
    r.echo["store"] = r.store;
    if (auto v = take_bool(j, "background", r.background); !v) {
        return v.error();
    }
    if (r.background) {
        if (!r.store) {
            return invalid("background requires store: a background response is read back from the store");
        }
        if (m.stream) {
            return invalid(
                "background with stream is not supported: create it without stream, then GET "
                "/v1/responses/{id}?stream=true");
        }
        r.echo["background"] = true;
    }
    if (auto prev = j.find("previous_response_id"); prev != j.end() && !prev->is_null()) {
        if (!prev->is_string() || request_id_of_response(prev->get_ref<const std::string&>()).empty()) {
            return invalid("previous_response_id must be the id of an earlier response (\"resp_...\")");
        }
        r.previous_response_id = prev->get<std::string>();
        r.echo["previous_response_id"] = *prev;
    }
    if (auto md = j.find("metadata"); md != j.end() && !md->is_null()) {
        if (!md->is_object() || md->size() > 16 ||
            !std::all_of(md->begin(), md->end(), [](const json& v) { return v.is_string(); })) {
            return invalid("metadata must be an object of at most 16 string values");
        }
        r.echo["metadata"] = *md;
    }
    if (auto user = j.find("user"); user != j.end() && !user->is_null()) {
        if (!user->is_string()) {
            return invalid("user must be a string");
        }
        m.extra["user"] = *user;  // kept with the request for the audit
        r.echo["user"] = *user;
    }
    return r;
}

void name_tool_results(json& messages) {
    for (std::size_t i = 0; i < messages.size(); ++i) {
        auto& msg = messages[i];
        if (get_or<std::string>(msg, "role", "") != "tool" || msg.contains("tool_name")) {
            continue;
        }
        auto id = get_or<std::string>(msg, "tool_call_id", "");
        for (std::size_t k = i; k-- > 0;) {
            const auto& before = messages[k];
            auto calls = before.find("tool_calls");
            if (calls == before.end() || !calls->is_array()) {
                continue;
            }
            auto hit = std::find_if(calls->begin(), calls->end(),
                                    [&](const json& c) { return get_or<std::string>(c, "id", "") == id; });
            if (hit != calls->end() && hit->contains("function")) {
                msg["tool_name"] = get_or<std::string>((*hit)["function"], "name", "");
                break;
            }
        }
    }
}

std::string response_id_of(const std::string& request_id) {
    return std::string{response_prefix} + request_id;
}

std::string request_id_of_response(std::string_view response_id) {
    if (!response_id.starts_with(response_prefix) || response_id.size() == response_prefix.size() ||
        response_id.size() > 100) {
        return {};
    }
    auto id = response_id.substr(response_prefix.size());
    bool plain = std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
    });
    return plain ? std::string{id} : std::string{};
}

}  // namespace llmp::api

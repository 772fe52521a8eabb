#include "api/anthropic_request_parser.hpp"

#include "api/field_checks.hpp"
#include "api/json_body.hpp"
#include "common/json_get.hpp"

#include <algorithm>

namespace llmp::api {
namespace {

using json = nlohmann::json;

auto invalid(const std::string& what) {
    return fail("invalid_field", what);
}

std::string at(const std::string& where, std::size_t i) {
    return where + "[" + std::to_string(i) + "]";
}

/// A block's "type", or "" when it is not an object with a string type.
std::string block_type(const json& block) {
    return block.is_object() ? get_or<std::string>(block, "type", "") : std::string{};
}

/// A text block's text, or the error naming it.
result<std::string> text_of_block(const json& block, const std::string& where) {
    auto t = block.find("text");
    if (t == block.end() || !t->is_string()) {
        return invalid(where + ".text must be a string");
    }
    return t->get<std::string>();
}

/// `system`, or a tool_result's `content`: a string, or an array of text blocks joined.
result<std::string> text_of(const json& content, const std::string& where) {
    if (content.is_string()) {
        return content.get<std::string>();
    }
    if (!content.is_array()) {
        return invalid(where + " must be a string or an array of {\"type\": \"text\", \"text\"} blocks");
    }
    std::string text;
    for (std::size_t i = 0; i < content.size(); ++i) {
        if (block_type(content[i]) != "text") {
            return invalid(at(where, i) + " must be a {\"type\": \"text\", \"text\"} block");
        }
        auto t = text_of_block(content[i], at(where, i));
        if (!t) {
            return t.error();
        }
        text += t.value();
    }
    return text;
}

/// The name of the tool_use with this id earlier in the conversation (Ollama wants tool_name on
/// a tool message; Anthropic's tool_result only names the call), "" when none.
std::string tool_name_of(const json& translated, const std::string& id) {
    for (auto m = translated.rbegin(); m != translated.rend(); ++m) {
        if (auto calls = m->find("tool_calls"); calls != m->end()) {
            for (const auto& c : *calls) {
                if (get_or<std::string>(c, "id", "") == id) {
                    return get_or<std::string>(c["function"], "name", "");
                }
            }
        }
    }
    return {};
}

/// An assistant tool_use block -> an Ollama-shaped call ({id, function: {index, name, arguments}}).
result<json> call_of(const json& block, std::size_t index, const std::string& where) {
    auto id = block.find("id");
    auto name = block.find("name");
    auto input = block.find("input");
    if (id == block.end() || !id->is_string() || name == block.end() || !name->is_string() ||
        (input != block.end() && !input->is_object())) {
        return invalid(where + " must be {\"type\": \"tool_use\", \"id\", \"name\", \"input\": {...}}");
    }
    json arguments = input == block.end() ? json::object() : *input;
    return json{{"id", *id}, {"function", {{"index", index}, {"name", *name}, {"arguments", std::move(arguments)}}}};
}

/// A user tool_result block -> an Ollama-shaped tool message, named after its call.
result<json> tool_message_of(const json& block, const json& translated, const std::string& where) {
    auto id = block.find("tool_use_id");
    if (id == block.end() || !id->is_string()) {
        return invalid(where + ".tool_use_id is required (the id of the tool_use it answers)");
    }
    std::string text;
    if (auto content = block.find("content"); content != block.end() && !content->is_null()) {
        auto t = text_of(*content, where + ".content");
        if (!t) {
            return t.error();
        }
        text = std::move(t.value());
    }
    if (auto e = block.find("is_error"); e != block.end() && !e->is_null()) {
        if (!e->is_boolean()) {
            return invalid(where + ".is_error must be true or false");
        }
        if (e->get<bool>()) {
            text = "Error: " + text;  // Ollama's tool messages have no flag for it
        }
    }
    json msg = {{"role", "tool"}, {"content", std::move(text)}, {"tool_call_id", *id}};
    if (auto name = tool_name_of(translated, id->get<std::string>()); !name.empty()) {
        msg["tool_name"] = std::move(name);
    }
    return msg;
}

/// One Anthropic message -> Ollama-shaped messages appended to `out`.
result<void> translate_message(const json& m, const std::string& where, json& out) {
    if (!m.is_object()) {
        return invalid(where + " must be an object");
    }
    auto role = get_or<std::string>(m, "role", "");
    if (role != "user" && role != "assistant") {
        return invalid(where + ".role must be \"user\" or \"assistant\" (the system prompt is the top-level system)");
    }
    auto content = m.find("content");
    if (content == m.end() || !(content->is_string() || content->is_array())) {
        return invalid(where + ".content must be a string or an array of content blocks");
    }
    json msg = {{"role", role}, {"content", ""}};
    if (content->is_string()) {
        msg["content"] = *content;
        out.push_back(std::move(msg));
        return ok();
    }
    std::string text;
    json calls = json::array();
    json tool_messages = json::array();
    for (std::size_t i = 0; i < content->size(); ++i) {
        const auto& block = (*content)[i];
        auto block_at = at(where + ".content", i);
        auto type = block_type(block);
        if (type == "text") {
            auto t = text_of_block(block, block_at);
            if (!t) {
                return t.error();
            }
            text += t.value();
        } else if (type == "tool_use" && role == "assistant") {
            auto call = call_of(block, calls.size(), block_at);
            if (!call) {
                return call.error();
            }
            calls.push_back(std::move(call.value()));
        } else if (type == "tool_result" && role == "user") {
            auto tool = tool_message_of(block, out, block_at);
            if (!tool) {
                return tool.error();
            }
            tool_messages.push_back(std::move(tool.value()));
        } else if (type.empty()) {
            return invalid(block_at + " must be an object with a \"type\"");
        } else {
            return invalid(block_at + ".type '" + type + "' is not supported in a " + role +
                           " message: text, tool_use (assistant) and tool_result (user) blocks are");
        }
    }
    // Tool results answer the assistant's calls: they come before whatever the user adds.
    for (auto& t : tool_messages) {
        out.push_back(std::move(t));
    }
    if (!text.empty() || tool_messages.empty()) {
        msg["content"] = std::move(text);
        if (!calls.empty()) {
            msg["tool_calls"] = std::move(calls);
        }
        out.push_back(std::move(msg));
    }
    return ok();
}

result<json> translate_messages(const json& messages) {
    if (!messages.is_array() || messages.empty()) {
        return invalid("messages must be a non-empty array of {\"role\", \"content\"} objects");
    }
    json out = json::array();
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (auto r = translate_message(messages[i], at("messages", i), out); !r) {
            return r.error();
        }
    }
    return out;
}

/// tools: [{name, description?, input_schema}] -> OpenAI's [{type: "function", function: {...}}].
result<json> translate_tools(const json& tools) {
    if (!tools.is_array()) {
        return invalid("tools must be an array of {\"name\", \"description\", \"input_schema\"} objects");
    }
    json out = json::array();
    for (std::size_t i = 0; i < tools.size(); ++i) {
        const auto& t = tools[i];
        auto where = at("tools", i);
        if (!t.is_object()) {
            return invalid(where + " must be an object");
        }
        if (auto type = get_or<std::string>(t, "type", "custom"); type != "custom") {
            return invalid(where + ".type '" + type + "' is not supported: only client tools ({\"name\", " +
                           "\"input_schema\"}) are, no server tools");
        }
        auto name = t.find("name");
        auto schema = t.find("input_schema");
        if (name == t.end() || !name->is_string() || name->get_ref<const std::string&>().empty() || schema == t.end() ||
            !schema->is_object()) {
            return invalid(where + " must be {\"name\", \"description\"?, \"input_schema\": {...}}");
        }
        json fn = {{"name", *name}, {"parameters", *schema}};
        if (auto d = t.find("description"); d != t.end() && !d->is_null()) {
            if (!d->is_string()) {
                return invalid(where + ".description must be a string");
            }
            fn["description"] = *d;
        }
        out.push_back({{"type", "function"}, {"function", std::move(fn)}});
    }
    return out;
}

/// tool_choice -> extra.tool_choice in OpenAI's terms, and disable_parallel_tool_use.
result<void> translate_tool_choice(const json& choice, json& extra) {
    auto type = block_type(choice);
    if (type == "auto" || type == "none") {
        extra["tool_choice"] = type;
    } else if (type == "any") {
        extra["tool_choice"] = "required";
    } else if (type == "tool" && choice.contains("name") && choice["name"].is_string()) {
        extra["tool_choice"] = {{"type", "function"}, {"function", {{"name", choice["name"]}}}};
    } else {
        return invalid(
            "tool_choice must be {\"type\": \"auto\" | \"any\" | \"none\"} or {\"type\": \"tool\", \"name\"}");
    }
    if (auto p = choice.find("disable_parallel_tool_use"); p != choice.end() && !p->is_null()) {
        if (!p->is_boolean()) {
            return invalid("tool_choice.disable_parallel_tool_use must be true or false");
        }
        if (p->get<bool>()) {
            extra["parallel_tool_calls"] = false;
        }
    }
    return ok();
}

result<void> copy_tool_fields(const json& j, json& extra) {
    if (auto tools = j.find("tools"); tools != j.end() && !tools->is_null()) {
        auto translated = translate_tools(*tools);
        if (!translated) {
            return translated.error();
        }
        if (!translated.value().empty()) {
            extra["tools"] = std::move(translated.value());
        }
    }
    if (auto choice = j.find("tool_choice"); choice != j.end() && !choice->is_null()) {
        if (auto r = translate_tool_choice(*choice, extra); !r) {
            return r.error();
        }
        if (!extra.contains("tools") && extra["tool_choice"] != "none" && extra["tool_choice"] != "auto") {
            return invalid("tool_choice names a tool to use, but no tools are given");
        }
        if (!extra.contains("tools")) {
            extra.erase("tool_choice");
            extra.erase("parallel_tool_calls");
        }
    }
    return ok();
}

/// max_tokens, temperature, top_p, top_k, stop_sequences -> Ollama's options.
result<void> copy_options(const json& j, json& options) {
    auto max_tokens = integer_field(j, "max_tokens", 1, int32_max);
    if (!max_tokens) {
        return max_tokens.error();
    }
    if (!max_tokens.value()) {
        return fail("missing_field", "max_tokens is required (the most tokens to generate)");
    }
    options["num_predict"] = *max_tokens.value();
    for (const char* name : {"temperature", "top_p"}) {
        auto v = number_field(j, name, 0, 1);
        if (!v) {
            return v.error();
        }
        if (v.value()) {
            options[name] = *j.find(name);  // as sent: 0.5 stays 0.5, 1 stays 1
        }
    }
    auto top_k = integer_field(j, "top_k", 0, int32_max);
    if (!top_k) {
        return top_k.error();
    }
    if (top_k.value()) {
        options["top_k"] = *top_k.value();
    }
    if (auto stop = j.find("stop_sequences"); stop != j.end() && !stop->is_null()) {
        if (!stop->is_array() ||
            !std::all_of(stop->begin(), stop->end(), [](const json& s) { return s.is_string(); })) {
            return invalid("stop_sequences must be an array of strings");
        }
        if (!stop->empty()) {
            options["stop"] = *stop;
        }
    }
    return ok();
}

}  // namespace

result<request_message> parse_anthropic_request(std::string_view body) {
    auto parsed = parse_json_object(body);
    if (!parsed) {
        return parsed.error();
    }
    const json j = std::move(parsed.value());
    request_message m;
    m.kind = request_kind::chat;
    m.api_flavour = "anthropic";
    m.stream = false;  // Anthropic's default

    auto model = j.find("model");
    if (model == j.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return fail("missing_field", "model is required (a model a worker serves, e.g. one GET /v1/models lists)");
    }
    m.model = model->get<std::string>();

    auto messages = j.find("messages");
    if (messages == j.end() || messages->is_null()) {
        return fail("missing_field", "messages is required (an array of {\"role\", \"content\"})");
    }
    auto translated = translate_messages(*messages);
    if (!translated) {
        return translated.error();
    }
    if (auto system = j.find("system"); system != j.end() && !system->is_null()) {
        auto text = text_of(*system, "system");
        if (!text) {
            return text.error();
        }
        if (!text.value().empty()) {
            json first = {{"role", "system"}, {"content", std::move(text.value())}};
            translated.value().insert(translated.value().begin(), std::move(first));
        }
    }
    m.messages = std::move(translated.value());

    if (auto r = copy_options(j, m.options); !r) {
        return r.error();
    }
    if (auto stream = j.find("stream"); stream != j.end() && !stream->is_null()) {
        if (!stream->is_boolean()) {
            return invalid("stream must be true or false");
        }
        m.stream = stream->get<bool>();
    }
    if (auto r = copy_tool_fields(j, m.extra); !r) {
        return r.error();
    }
    if (auto meta = j.find("metadata"); meta != j.end() && !meta->is_null()) {
        if (!meta->is_object()) {
            return invalid("metadata must be an object");
        }
        if (auto user = meta->find("user_id"); user != meta->end() && !user->is_null()) {
            if (!user->is_string()) {
                return invalid("metadata.user_id must be a string");
            }
            m.extra["user"] = *user;  // kept with the request for the audit, as OpenAI's user
        }
    }
    return m;
}

}  // namespace llmp::api

#include "providers/mock/mock_tool_calls.hpp"

#include "common/json_get.hpp"
#include "providers/mock/mock_text.hpp"

#include <atomic>
#include <cstdio>

namespace llmp::providers {
namespace {

using json = nlohmann::json;

std::string next_id() {
    static std::atomic<unsigned> counter{0x5eed0000u};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", counter.fetch_add(1));
    return std::string{"call_"} + buf;
}

json argument_value(const json& schema, const std::string& prompt) {
    auto type = schema.is_object() ? schema.value("type", json{}) : json{};
    if (type == "string") {
        return prompt;
    }
    if (type == "integer" || type == "number") {
        return 42;
    }
    if (type == "boolean") {
        return true;
    }
    return nullptr;
}

}  // namespace

std::vector<std::string> mock_json_tokens(const json& format, const std::string& prompt, int n) {
    json answer;
    if (format == "json") {
        answer = {{"answer", mock_text(prompt, n)}};
    } else if (format.is_object()) {
        answer = json::object();
        if (auto props = format.find("properties"); props != format.end() && props->is_object()) {
            for (const auto& [key, schema] : props->items()) {
                auto value = argument_value(schema, prompt);
                answer[key] = value.is_string() ? json(mock_text(prompt, n)) : value;
            }
        }
    } else {
        return {};
    }
    const std::string text = answer.dump();
    std::vector<std::string> tokens;
    for (std::size_t at = 0; at < text.size(); at += 8) {
        tokens.push_back(text.substr(at, 8));
    }
    return tokens;
}

std::vector<mock_call> mock_tool_calls(const json& tools, const json& tool_choice, const json& messages,
                                       const std::string& prompt) {
    std::vector<mock_call> calls;
    if (!tools.is_array() || tools.empty() || !messages.is_array() || messages.empty()) {
        return calls;
    }
    const auto& last = messages.back();
    if (get_or<std::string>(last, "role", "") == "tool") {
        return calls;
    }
    std::string only;
    if (tool_choice == "none") {
        return calls;
    }
    if (tool_choice.is_object() && tool_choice.contains("function") && tool_choice["function"].is_object()) {
        only = get_or<std::string>(tool_choice["function"], "name", "");
    }
    for (const auto& t : tools) {
        if (calls.size() == 3) {
            break;
        }
        if (!t.is_object() || !t.contains("function") || !t["function"].is_object()) {
            continue;
        }
        const auto& fn = t["function"];
        auto name = get_or<std::string>(fn, "name", "");
        if (name.empty() || (!only.empty() && name != only)) {
            continue;
        }
        json arguments = json::object();
        if (auto params = fn.find("parameters"); params != fn.end() && params->is_object()) {
            if (auto props = params->find("properties"); props != params->end() && props->is_object()) {
                for (const auto& [key, schema] : props->items()) {
                    arguments[key] = argument_value(schema, prompt);
                }
            }
        }
        calls.push_back({next_id(), std::move(name), std::move(arguments)});
    }
    return calls;
}

}  // namespace llmp::providers

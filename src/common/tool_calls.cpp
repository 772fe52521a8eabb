#include "common/tool_calls.hpp"

#include "common/json_get.hpp"
#include "common/json_limits.hpp"

#include <cstdio>
#include <random>

namespace llmp {
namespace {

using json = nlohmann::json;

const std::string* string_at(const json& j, const char* key) {
    if (!j.is_object()) {
        return nullptr;
    }
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

json contract_call(std::string id, std::string name, std::string arguments) {
    if (id.empty()) {
        id = new_tool_call_id();
    }
    return {{"id", std::move(id)},
            {"type", "function"},
            {"function", {{"name", std::move(name)}, {"arguments", std::move(arguments)}}}};
}

}  // namespace

std::string new_tool_call_id() {
    static constexpr std::string_view letters = "abcdefghijklmnopqrstuvwxyz0123456789";
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string id = "call_";
    for (int i = 0; i < 8; ++i) {
        id.push_back(letters[rng() % letters.size()]);
    }
    return id;
}

json tool_calls_from_ollama(const json& calls) {
    json out = json::array();
    if (!calls.is_array()) {
        return out;
    }
    for (const auto& c : calls) {
        auto fn = c.is_object() ? c.find("function") : c.end();
        if (!c.is_object() || fn == c.end() || !fn->is_object()) {
            continue;
        }
        const auto* name = string_at(*fn, "name");
        if (name == nullptr || name->empty()) {
            continue;
        }
        std::string arguments = "{}";
        if (auto a = fn->find("arguments"); a != fn->end() && !a->is_null()) {
            arguments =
                a->is_string() ? a->get<std::string>() : a->dump(-1, ' ', false, json::error_handler_t::replace);
        }
        const auto* id = string_at(c, "id");
        out.push_back(contract_call(id ? *id : std::string{}, *name, std::move(arguments)));
    }
    return out;
}

json tool_calls_to_ollama(const json& calls) {
    json out = json::array();
    if (!calls.is_array()) {
        return out;
    }
    int index = 0;
    for (const auto& c : calls) {
        auto fn = c.is_object() ? c.find("function") : c.end();
        if (!c.is_object() || fn == c.end() || !fn->is_object()) {
            continue;
        }
        json arguments = json::object();
        if (const auto* text = string_at(*fn, "arguments")) {
            auto parsed = parse_json_bounded(*text, max_message_json_depth);
            if (parsed && parsed.value().is_object()) {
                arguments = std::move(parsed.value());
            }
        } else if (auto a = fn->find("arguments"); a != fn->end() && a->is_object()) {
            arguments = *a;
        }
        const auto* name = string_at(*fn, "name");
        json call = json::object();
        if (const auto* id = string_at(c, "id"); id != nullptr && !id->empty()) {
            call["id"] = *id;
        }
        call["function"] = {{"index", index++}, {"name", name ? *name : ""}, {"arguments", std::move(arguments)}};
        out.push_back(std::move(call));
    }
    return out;
}

void tool_call_assembler::add(const json& delta_tool_calls) {
    if (!delta_tool_calls.is_array()) {
        return;
    }
    for (const auto& d : delta_tool_calls) {
        if (!d.is_object()) {
            continue;
        }
        auto index = get_or<std::int64_t>(d, "index", 0);
        if (index < 0 || index > 999'999) {
            continue;
        }
        char key[16];
        std::snprintf(key, sizeof key, "%06lld", static_cast<long long>(index));  // object keys sort as indices
        auto& call = calls_[key];
        if (call.is_null()) {
            call = {{"id", ""}, {"name", ""}, {"arguments", ""}};
        }
        if (const auto* id = string_at(d, "id"); id != nullptr && !id->empty()) {
            call["id"] = *id;
        }
        auto fn = d.find("function");
        if (fn == d.end() || !fn->is_object()) {
            continue;
        }
        if (const auto* name = string_at(*fn, "name"); name != nullptr && !name->empty()) {
            call["name"] = *name;
        }
        if (const auto* args = string_at(*fn, "arguments")) {
            call["arguments"].get_ref<std::string&>() += *args;
        }
    }
}

json tool_call_assembler::take() {
    json out = json::array();
    for (auto& [key, call] : calls_.items()) {
        out.push_back(contract_call(call["id"].get<std::string>(), call["name"].get<std::string>(),
                                    call["arguments"].get<std::string>()));
    }
    calls_ = json::object();
    return out;
}

}  // namespace llmp

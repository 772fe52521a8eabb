#include "broker/message.hpp"

namespace llmp::broker {

const field_value* find_field(const field_table& t, std::string_view key) {
    for (const auto& [k, v] : t) {
        if (k == key) {
            return &v;
        }
    }
    return nullptr;
}

std::int64_t field_int(const field_table& t, std::string_view key, std::int64_t fallback) {
    const auto* v = find_field(t, key);
    if (v == nullptr) {
        return fallback;
    }
    if (const auto* i = std::get_if<std::int64_t>(v)) {
        return *i;
    }
    return fallback;
}

std::string field_string(const field_table& t, std::string_view key) {
    const auto* v = find_field(t, key);
    if (v == nullptr) {
        return {};
    }
    if (const auto* s = std::get_if<std::string>(v)) {
        return *s;
    }
    return {};
}

}  // namespace llmp::broker

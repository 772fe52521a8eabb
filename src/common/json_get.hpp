#pragma once
// Lenient field access for decoding messages: a missing, null or mistyped field reads as the
// caller's fallback (the decoders decide which fields are required before they get here).

#include <nlohmann/json.hpp>

namespace llmp {

template <class T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return fallback;
    }
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        return fallback;
    }
}

}  // namespace llmp

#pragma once
// Field access on JSON from outside the process, without exceptions or narrowing conversions:
//   integer_of<T>  a JSON integer that T holds exactly, or nullopt (floats, other types and
//                  out-of-range values: nlohmann's get<int>() would wrap a big integer, and
//                  converting an out-of-range double to an integer is undefined behaviour);
//   get_or<T>      lenient decoding: a missing, null, mistyped or out-of-range field reads as
//                  the caller's fallback (the decoders decide which fields are required).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

namespace llmp {

template <class T>
std::optional<T> integer_of(const nlohmann::json& v) {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
    if (v.is_number_unsigned()) {
        auto u = v.get<std::uint64_t>();
        return std::in_range<T>(u) ? std::optional<T>{static_cast<T>(u)} : std::nullopt;
    }
    if (v.is_number_integer()) {
        auto i = v.get<std::int64_t>();
        return std::in_range<T>(i) ? std::optional<T>{static_cast<T>(i)} : std::nullopt;
    }
    return std::nullopt;
}

template <class T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return fallback;
    }
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        return integer_of<T>(*it).value_or(fallback);
    } else if constexpr (std::is_floating_point_v<T>) {
        // Any JSON number converts (the parser refuses non-finite ones).
        return it->is_number() ? it->get<T>() : fallback;
    } else {
        try {
            return it->get<T>();
        } catch (const nlohmann::json::exception&) {
            return fallback;
        }
    }
}

}  // namespace llmp

#pragma once
// ASCII case-insensitive comparisons for protocol tokens (URL schemes, media types): locale-free,
// no allocation. Pure, any thread.

#include <cctype>
#include <cstddef>
#include <string_view>

namespace llmp {

/// Whether `s` begins with `lower_prefix`, ignoring the case of `s` (`lower_prefix` is lower case).
inline bool starts_with_nocase(std::string_view s, std::string_view lower_prefix) {
    if (s.size() < lower_prefix.size()) {
        return false;
    }
    for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) != lower_prefix[i]) {
            return false;
        }
    }
    return true;
}

/// Whether `s` equals `lower`, ignoring the case of `s`.
inline bool equals_nocase(std::string_view s, std::string_view lower) {
    return s.size() == lower.size() && starts_with_nocase(s, lower);
}

}  // namespace llmp

#include "common/secret_mask.hpp"

#include <algorithm>
#include <cctype>

namespace llmp {
namespace {

constexpr std::string_view masked = "***";

bool is_space(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

/// password, sslpassword, PASSWORD...: any key naming a password.
bool is_secret_key(std::string_view key) {
    std::string lower{key};
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower.find("password") != std::string::npos;
}

/// scheme://user:secret@host/path?key=value&...
std::string mask_uri(std::string_view url, std::size_t authority) {
    std::string out;
    auto query = url.find('?', authority);
    auto head = url.substr(0, query);
    // The last '@' before the query ends the user info: a password may hold '@' or '/'.
    auto at = head.rfind('@');
    auto colon = head.find(':', authority);
    if (at != std::string_view::npos && at >= authority && colon != std::string_view::npos && colon < at) {
        out.append(head.substr(0, colon + 1)).append(masked).append(head.substr(at));
    } else {
        out.append(head);
    }
    if (query == std::string_view::npos) {
        return out;
    }
    // key=value pairs up to a fragment; only the secret values are replaced.
    auto rest = url.substr(query + 1);
    out.push_back('?');
    while (true) {
        auto amp = rest.find_first_of("&#");
        auto pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        if (eq != std::string_view::npos && is_secret_key(pair.substr(0, eq))) {
            out.append(pair.substr(0, eq + 1)).append(masked);
        } else {
            out.append(pair);
        }
        if (amp == std::string_view::npos) {
            break;
        }
        out.push_back(rest[amp]);
        if (rest[amp] == '#') {
            out.append(rest.substr(amp + 1));
            break;
        }
        rest = rest.substr(amp + 1);
    }
    return out;
}

/// key = value key='quoted \' value' ... (libpq's keyword/value connection strings).
std::string mask_keywords(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    auto skip_spaces = [&] {
        while (i < s.size() && is_space(s[i])) {
            ++i;
        }
    };
    while (true) {
        skip_spaces();
        if (i == s.size()) {
            return out;
        }
        auto key_start = i;
        while (i < s.size() && s[i] != '=' && !is_space(s[i])) {
            ++i;
        }
        auto key = s.substr(key_start, i - key_start);
        skip_spaces();
        if (i == s.size() || s[i] != '=') {
            // Not key=value: libpq refuses it; say no more than what was understood.
            return out + (out.empty() ? "" : " ") + std::string{masked};
        }
        ++i;
        skip_spaces();
        auto value_start = i;
        if (i < s.size() && s[i] == '\'') {
            ++i;
            while (i < s.size() && s[i] != '\'') {
                i += s[i] == '\\' && i + 1 < s.size() ? 2 : 1;
            }
            i = std::min(i + 1, s.size());
        } else {
            while (i < s.size() && !is_space(s[i])) {
                i += s[i] == '\\' && i + 1 < s.size() ? 2 : 1;
            }
        }
        if (!out.empty()) {
            out.push_back(' ');
        }
        out.append(key).push_back('=');
        if (is_secret_key(key)) {
            out.append(masked);
        } else {
            out.append(s.substr(value_start, i - value_start));
        }
    }
}

}  // namespace

std::string mask_secrets(std::string_view conn) {
    auto scheme = conn.find("://");
    auto first_space = std::find_if(conn.begin(), conn.end(), is_space) - conn.begin();
    auto first_eq = conn.find('=');
    bool uri = scheme != std::string_view::npos && (first_eq == std::string_view::npos || scheme < first_eq) &&
               static_cast<std::size_t>(first_space) > scheme;
    if (uri) {
        return mask_uri(conn, scheme + 3);
    }
    if (first_eq == std::string_view::npos) {
        // A bare word: a host or database name, or a mistyped URL ("amqp:/u:p@h"), whose user
        // info is dropped to be safe.
        auto at = conn.rfind('@');
        return at == std::string_view::npos ? std::string{conn} : std::string{masked} + std::string{conn.substr(at)};
    }
    return mask_keywords(conn);
}

}  // namespace llmp

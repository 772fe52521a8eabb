#include "keys/api_key.hpp"

#include "common/ascii.hpp"
#include "common/messages.hpp"
#include "common/sha256.hpp"

#include <openssl/rand.h>

#include <fnmatch.h>

#include <array>
#include <stdexcept>
#include <vector>

namespace llmp::keys {
namespace {

constexpr std::string_view base64url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_unpadded(const unsigned char* data, std::size_t n) {
    std::string out;
    out.reserve((n * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8) | unsigned{data[i + 2]};
        out += base64url_alphabet[(v >> 18) & 63];
        out += base64url_alphabet[(v >> 12) & 63];
        out += base64url_alphabet[(v >> 6) & 63];
        out += base64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = unsigned{data[i]} << 16;
        out += base64url_alphabet[(v >> 18) & 63];
        out += base64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8);
        out += base64url_alphabet[(v >> 18) & 63];
        out += base64url_alphabet[(v >> 12) & 63];
        out += base64url_alphabet[(v >> 6) & 63];
    }
    return out;
}

bool blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && blank(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && blank(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

new_key generate_key() {
    std::array<unsigned char, 32> random{};
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
        throw std::runtime_error{"OpenSSL RAND_bytes failed: no randomness for a new key"};
    }
    new_key k;
    k.plaintext = std::string{key_scheme_prefix} + base64url_unpadded(random.data(), random.size());
    k.hash = hash_key(k.plaintext);
    k.prefix = k.plaintext.substr(0, display_prefix_length);
    return k;
}

std::string random_token(std::size_t bytes) {
    std::vector<unsigned char> random(bytes);
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
        throw std::runtime_error{"OpenSSL RAND_bytes failed: no randomness for a token"};
    }
    return base64url_unpadded(random.data(), random.size());
}

std::string_view role_name(key_role r) {
    switch (r) {
        case key_role::viewer:
            return "viewer";
        case key_role::admin:
            return "admin";
        case key_role::user:
            break;
    }
    return "user";
}

std::optional<key_role> parse_role(std::string_view name) {
    for (auto r : {key_role::user, key_role::viewer, key_role::admin}) {
        if (name == role_name(r)) {
            return r;
        }
    }
    return std::nullopt;
}

std::string hash_key(std::string_view key) {
    return sha256_hex(key);
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
    auto v = trim(authorization);
    constexpr std::string_view scheme = "bearer";
    if (v.size() <= scheme.size() || !blank(v[scheme.size()]) || !starts_with_nocase(v, scheme)) {
        return std::nullopt;
    }
    auto token = trim(v.substr(scheme.size()));
    if (token.empty()) {
        return std::nullopt;
    }
    return token;
}

bool model_allowed(const std::vector<std::string>& patterns, std::string_view model) {
    if (patterns.empty()) {
        return true;
    }
    std::string m{model};  // fnmatch wants NUL-terminated strings
    std::string tagged = normalize_model_name(model);
    for (const auto& p : patterns) {
        if (fnmatch(p.c_str(), m.c_str(), 0) == 0 || fnmatch(p.c_str(), tagged.c_str(), 0) == 0) {
            return true;
        }
    }
    return false;
}

bool usable_at(const usable_key& k, std::chrono::system_clock::time_point now) {
    return !k.expires_at || now < *k.expires_at;
}

}  // namespace llmp::keys

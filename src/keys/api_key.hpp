#pragma once
// api_key: what an API key is, without any storage — making one, the hash it is stored and
// looked up by, reading it from an `Authorization: Bearer` header, and the checks a request
// passes with it (usable now, model allowed). key_store.hpp keeps them in PostgreSQL;
// api/auth.hpp checks requests against the usable ones.
//
// A key is "llmp_" + 43 characters of unpadded base64url of 32 random bytes (OpenSSL
// RAND_bytes): 256 bits, so one unsalted SHA-256 is a sound way to store it (nothing to
// brute-force, unlike a password). Only the hash (lowercase hex) and the first
// display_prefix_length characters are ever stored; the plaintext is shown once by
// `llmproxy keys create` and never logged.
//
// Threading: pure functions over their arguments; any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::keys {

inline constexpr std::string_view key_scheme_prefix = "llmp_";
/// Characters of a key kept for display ("llmp_" and 7 more): enough to tell keys apart, far
/// too few to guess the rest.
inline constexpr std::size_t display_prefix_length = 12;

struct new_key {
    std::string plaintext;  ///< shown once, never stored
    std::string hash;       ///< hash_key(plaintext)
    std::string prefix;     ///< the first display_prefix_length characters
};

/// A fresh random key. Throws std::runtime_error when the system has no randomness to give
/// (a start-up failure of the `keys create` command).
new_key generate_key();

/// `bytes` random bytes (OpenSSL RAND_bytes) as unpadded base64url: session ids and other
/// tokens that must not be guessed. Throws std::runtime_error like generate_key.
std::string random_token(std::size_t bytes);

/// Lowercase hex SHA-256 of `key`: what is stored and looked up.
std::string hash_key(std::string_view key);

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive,
/// surrounding blanks ignored); nullopt for another scheme or an empty token.
std::optional<std::string_view> bearer_token(std::string_view authorization);

/// True when `model`, as sent or in its name:tag form (common/messages.hpp: "mock" is
/// "mock:latest"), matches one of the glob `patterns` (fnmatch: *, ?, [..]); an empty list
/// allows every model. So "mock:latest" allows "mock" too, and "mock*" both.
bool model_allowed(const std::vector<std::string>& patterns, std::string_view model);

/// What a key may do (migration 7). user: call the API; viewer: read the monitor's numbers,
/// never prompt or answer texts, and not call the API; admin: everything (API, monitor with
/// texts, key management).
enum class key_role { user, viewer, admin };

std::string_view role_name(key_role r);
/// nullopt for anything but "user", "viewer" or "admin".
std::optional<key_role> parse_role(std::string_view name);
/// How much a key may use (issue 14 item 3; api/limiter.hpp enforces them across the fleet).
/// Each is optional: unset = unlimited. Tokens are prompt + completion tokens.
struct key_limits {
    std::optional<std::int64_t> requests_per_minute;
    std::optional<std::int64_t> tokens_per_minute;
    std::optional<std::int64_t> max_streams;       ///< requests in flight at once
    std::optional<std::int64_t> tokens_per_day;    ///< UTC calendar day
    std::optional<std::int64_t> tokens_per_month;  ///< UTC calendar month
    /// The highest priority (0..9) its requests may ask for; higher asks are lowered to it.
    std::optional<int> priority_ceiling;

    /// True when a counted limit is set (RPM, TPM, streams, budgets): requests with this key
    /// go through the limiter and carry the x-ratelimit-* headers.
    bool counted() const {
        return requests_per_minute || tokens_per_minute || max_streams || tokens_per_day || tokens_per_month;
    }
    friend bool operator==(const key_limits&, const key_limits&) = default;
};

/// What a server needs to know of a stored key to admit a request with it.
struct usable_key {
    std::string id;
    std::string name;
    key_role role = key_role::user;
    std::vector<std::string> allowed_models;
    std::optional<std::chrono::system_clock::time_point> expires_at;
    key_limits limits;
};

/// Not expired at `now` (revoked keys are never loaded as usable).
bool usable_at(const usable_key& k, std::chrono::system_clock::time_point now);

}  // namespace llmp::keys

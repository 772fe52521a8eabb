#pragma once
// key_rules: what a key's fields may hold, in one place for both ways of managing keys —
// `llmproxy keys create|update` (programs/keys.cpp: its flag checks call these) and the
// monitor's REST API (monitor/key_admin.cpp: its JSON fields are named here and checked by
// these). The limits are a table (limit_rules) so the flags, the JSON fields, the `--clear`
// names and the bounds cannot drift apart.
//
// Threading: constant data and pure functions; any thread.

#include "common/result.hpp"
#include "keys/key_store.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmp::keys {

/// One limit of key_limits (in its member order).
struct limit_rule {
    std::string_view name;   ///< CLI flag without "--" and `update --clear` name: "max-streams"
    std::string_view field;  ///< JSON field of the REST API and the listings: "max_streams"
    std::string_view help;
    std::int64_t lo;
    std::int64_t hi;
};

inline constexpr std::array<limit_rule, 6> limit_rules{{
    {"rpm", "rpm", "requests per minute, counted across every API server (unset = unlimited)", 1, 1'000'000'000},
    {"tpm", "tpm", "tokens (prompt + completion) per minute (unset = unlimited)", 1, 1'000'000'000'000},
    {"max-streams", "max_streams", "requests in flight at once (unset = unlimited)", 1, 1'000'000},
    {"daily-tokens", "daily_tokens", "tokens per UTC day (unset = unlimited)", 1, 1'000'000'000'000'000},
    {"monthly-tokens", "monthly_tokens", "tokens per UTC month (unset = unlimited)", 1, 1'000'000'000'000'000},
    {"priority-ceiling", "priority_ceiling", "highest priority (0-9) its requests get; higher asks are lowered", 0, 9},
}};

inline constexpr int max_expires_in_days = 36500;

/// Limit `i` of `l` (limit_rules order); nullopt = unlimited.
std::optional<std::int64_t> limit_of(const key_limits& l, std::size_t i);
/// Sets limit `i` of `l` (a value check_limit accepted, or nullopt).
void set_limit(key_limits& l, std::size_t i, std::optional<std::int64_t> v);
/// The change slot of limit `i`.
std::optional<std::optional<std::int64_t>>& limit_change_of(key_limits_change& c, std::size_t i);

/// invalid_field unless lo <= v <= hi of limit `i`; the message is "<field> must be ..." (the
/// CLI shows it after its flag's name, without the field's).
result<void> check_limit(std::size_t i, std::int64_t v);
/// invalid_field unless 1 <= days <= max_expires_in_days ("expires_in_days must be ...").
result<void> check_expires_in_days(std::int64_t days);
/// invalid_field for an unknown role name.
result<key_role> check_role(std::string_view name);
/// invalid_field for an empty pattern.
result<void> check_models(const std::vector<std::string>& patterns);

/// Every field of a new key: a name (non-empty, no '/': it is a URL path segment of the REST
/// API), models, expiry and limits in range.
result<void> check_spec(const key_spec& spec);
/// Every field a change sets.
result<void> check_change(const key_change& change);

}  // namespace llmp::keys

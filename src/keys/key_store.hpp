#pragma once
// key_store: the api_keys table (pg/migrations.cpp, versions 5, 6 and 7) — create, list, show,
// update and revoke keys for `llmproxy keys`, and load the usable ones with their limits and role
// for the API server and the monitor (keys/key_ring.hpp). Only hashes
// and display prefixes go in and come out; a plaintext key never reaches this file.
//
// Threading: each call runs on the caller's thread over the caller's connection (blocking
// libpq); a pg::connection is used by one thread at a time.

#include "common/result.hpp"
#include "keys/api_key.hpp"
#include "pg/connection.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llmp::keys {

struct key_spec {
    std::string name;
    std::string owner;
    std::vector<std::string> allowed_models;  ///< glob patterns; empty = every model
    std::optional<int> expires_in_days;
    key_role role = key_role::user;
    key_limits limits;
};

/// A change to a key's limits: per limit, unset = leave it, set to nullopt = clear it
/// (unlimited), set to a value = that value.
struct key_limits_change {
    std::optional<std::optional<std::int64_t>> requests_per_minute;
    std::optional<std::optional<std::int64_t>> tokens_per_minute;
    std::optional<std::optional<std::int64_t>> max_streams;
    std::optional<std::optional<std::int64_t>> tokens_per_day;
    std::optional<std::optional<std::int64_t>> tokens_per_month;
    std::optional<std::optional<std::int64_t>> priority_ceiling;
};

/// What `llmproxy keys update` and the monitor's PATCH /api/keys/{name} may change (each unset
/// = leave it); keys/key_rules.hpp checks the values.
struct key_change {
    std::optional<std::string> owner;
    std::optional<std::vector<std::string>> allowed_models;
    std::optional<key_role> role;
    /// Set to nullopt = never expires; set to n = expires n days from now.
    std::optional<std::optional<int>> expires_in_days;
    key_limits_change limits;
};

/// A row as `llmproxy keys list` shows it: never the hash. Times are ISO 8601 UTC text.
struct key_listing {
    std::string id;
    std::string name;
    std::string owner;
    std::string prefix;
    std::vector<std::string> allowed_models;
    std::string created_at;
    std::optional<std::string> expires_at;
    std::optional<std::string> revoked_at;
    key_role role = key_role::user;
    key_limits limits;
};

/// Stores `k` (its hash and prefix) under `spec`; returns the new row. A name already taken:
/// error "key_name_taken".
result<key_listing> create_key(pg::connection& conn, const key_spec& spec, const new_key& k);
/// Every key, oldest first.
result<std::vector<key_listing>> list_keys(pg::connection& conn);
/// The key named `name` (revoked ones too); error "key_not_found" when there is none.
result<key_listing> show_key(pg::connection& conn, const std::string& name);
/// The NOTIFY channel a change of api_keys is announced on at its commit (migration 35's
/// statement trigger): key refreshers LISTEN on it.
inline constexpr std::string_view changed_channel = "llmp_api_keys";

/// Applies `change` to the usable key named `name` and returns it as it is now; error
/// "key_not_found" when there is no usable key of that name. API servers load the change
/// when its commit is announced (changed_channel), or within their refresh interval (a second
/// by default) if they cannot listen.
result<key_listing> update_key(pg::connection& conn, const std::string& name, const key_change& change);
/// Marks the key named `name` revoked now; error "key_not_found" when there is no such key
/// or it is revoked already.
result<void> revoke_key(pg::connection& conn, const std::string& name);

/// A usable key and the hash it is looked up by.
struct stored_key {
    std::string hash;
    usable_key key;
};
/// The keys neither revoked nor expired now.
result<std::vector<stored_key>> load_usable_keys(pg::connection& conn);

}  // namespace llmp::keys

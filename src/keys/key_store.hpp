#pragma once
// key_store: the api_keys table (pg/migrations.cpp, versions 5 and 7) — create, list and revoke keys
// for `llmproxy keys`, and load the usable ones for the API server (api/auth.hpp). Only hashes
// and display prefixes go in and come out; a plaintext key never reaches this file.
//
// Threading: each call runs on the caller's thread over the caller's connection (blocking
// libpq); a pg::connection is used by one thread at a time.

#include "common/result.hpp"
#include "keys/api_key.hpp"
#include "pg/connection.hpp"

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
};

/// Stores `k` (its hash and prefix) under `spec`; returns the new row. A name already taken:
/// error "key_name_taken".
result<key_listing> create_key(pg::connection& conn, const key_spec& spec, const new_key& k);
/// Every key, oldest first.
result<std::vector<key_listing>> list_keys(pg::connection& conn);
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

#pragma once
// auth: who may use the API (issue 14). With `--auth keys` every route but /healthz, /readyz and
// /metrics needs `Authorization: Bearer <key>`; this is the one check, called by api_server's
// route wrapper (401 before a body is read) and by the relay's admission (401, and 403 when the
// key may not use the request's model, or is a monitor-only viewer key). key_ring holds the
// usable keys by hash; key_refresher reloads them from PostgreSQL every second on a thread of its
// own, so a revoked key stops working within ~1 s (both in keys/key_ring.hpp). With
// `--auth none` (the default: scripts/up and existing deployments keep working) context::keys is null and every request passes.
//
// A presented key is hashed (SHA-256) and looked up by hash: the table compares hashes, never a
// secret, so the lookup's timing tells nothing useful. No key, hash or prefix is ever logged.
//
// Threading: auth_refusal is a pure function of its arguments and the ring (any thread).

#include "common/result.hpp"
#include "keys/key_ring.hpp"

#include <optional>
#include <string_view>

namespace llmp::api {

// The ring and its reloader live in keys/ (the monitor uses them too).
using keys::key_refresher;
using keys::key_ring;

/// The usable key `authorization` (the header's value: "Bearer <key>") or else `x_api_key` (the
/// x-api-key header's value: the key itself) carries, or invalid_api_key (401), or forbidden
/// (403) for a viewer key (it reads the monitor and may not call the API).
result<std::shared_ptr<const keys::usable_key>> authenticate(const key_ring& ring,
                                                             std::optional<std::string_view> authorization,
                                                             std::optional<std::string_view> x_api_key = std::nullopt);
/// model_not_allowed (403) when `key` may not use `model`.
std::optional<llmp::error> model_refusal(const keys::usable_key& key, std::string_view model);

/// nullopt when the request may go on: `ring` is null (auth none), or `authorization` (or else
/// `x_api_key`) holds a usable user or admin key that may use `model` (no model: any such key
/// will do). Otherwise invalid_api_key (401), forbidden (403: a viewer key, which only reads the
/// monitor) or model_not_allowed (403).
std::optional<llmp::error> auth_refusal(const key_ring* ring, std::optional<std::string_view> authorization,
                                        std::optional<std::string_view> model,
                                        std::optional<std::string_view> x_api_key = std::nullopt);

}  // namespace llmp::api

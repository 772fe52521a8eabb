#pragma once
// key_admin: the monitor's admin REST API for API keys (issue 14) — the same table and rules as
// `llmproxy keys` (keys/key_store.hpp), over HTTP for the dashboard and scripts:
//   GET    /api/keys          every key with its limits (never its hash or plaintext)
//   POST   /api/keys          {"name", "owner"?, "models"?: [glob...], "expires_in_days"?,
//                             "role"?: "user"|"viewer"|"admin", "rpm"?, "tpm"?, "max_streams"?,
//                             "daily_tokens"?, "monthly_tokens"?, "priority_ceiling"?} -> 201
//                             with "key": the plaintext, shown this once
//   PATCH  /api/keys/{name}   the same fields but name (each optional; null lifts a limit or
//                             the expiry) -> the key as it is now; 404 when unknown or revoked.
//                             `llmproxy keys update`; API servers apply it within 2 s
//   DELETE /api/keys/{name}   revoke (404 when unknown or revoked already)
// Values are checked by keys/key_rules.hpp, as the CLI checks its flags; unknown fields and bad
// values are 400 with a JSON error naming the field.
// Admin only: api_handlers' gate refuses everyone else before these run. The database work runs
// on db_pool threads; nothing here blocks an I/O thread.

#include "http/router.hpp"
#include "monitor/monitor_context.hpp"

namespace llmp::monitor {

/// Adds the four routes to `r`. `m` must outlive the router.
void add_key_admin_routes(http_server::router& r, monitor_context& m);

}  // namespace llmp::monitor

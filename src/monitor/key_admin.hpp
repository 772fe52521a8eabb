#pragma once
// key_admin: the monitor's admin REST API for API keys (issue 14) — the same table and rules as
// `llmproxy keys` (keys/key_store.hpp), over HTTP for the dashboard and scripts:
//   GET    /api/keys          every key (never its hash or plaintext)
//   POST   /api/keys          {"name", "owner"?, "models"?: [glob...], "expires_in_days"?,
//                             "role"?: "user"|"viewer"|"admin"} -> 201 with "key": the plaintext,
//                             shown this once
//   DELETE /api/keys/{name}   revoke (404 when unknown or revoked already)
// Admin only: api_handlers' gate refuses everyone else before these run. The database work runs
// on db_pool threads; nothing here blocks an I/O thread.

#include "http/router.hpp"
#include "monitor/monitor_context.hpp"

namespace llmp::monitor {

/// Adds the three routes to `r`. `m` must outlive the router.
void add_key_admin_routes(http_server::router& r, monitor_context& m);

}  // namespace llmp::monitor

#pragma once
// error_queries: the read behind /api/errors — the window's failed and cancelled requests
// counted by route and error code (responses joined to their requests), and every route's
// request and error totals. Runs on a db_pool thread with that thread's connection; no texts
// (error messages are not returned), so viewers get it as admins do.

#include "common/result.hpp"
#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>

namespace llmp::monitor {

/// {"errors": [{route, status, code, count, last_ms}] (most frequent first, at most 200),
///  "routes": [{route, requests, errors, cancelled, error_rate}]}. `code` is null when the
/// response carried none (a cancellation).
/// `end_ms`: the window's end (unix ms); nullopt = now.
result<nlohmann::json> query_errors(pg::connection& c, std::int64_t window_s,
                                    std::optional<std::int64_t> end_ms = std::nullopt);

}  // namespace llmp::monitor

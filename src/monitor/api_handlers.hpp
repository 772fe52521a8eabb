#pragma once
// api_handlers: the monitor's HTTP surface. /api/* answers JSON (see README.md for each
// endpoint); every other GET path is a file of the dashboard. Handlers are coroutines on the
// connection's strand: database work goes through db_pool (never blocking here), live data
// (heartbeats, queue samples) is copied under its owner's mutex.

#include "http/router.hpp"
#include "monitor/monitor_context.hpp"

#include <memory>

namespace llmp::monitor {

/// The handler for every request: /api/requests/{id}, the /api/ routes, /healthz, /metrics,
/// then static files. `m` must outlive the returned handler.
http_server::handler make_monitor_handler(monitor_context& m);

/// The answer to a failed /api/ request: {"error": {"code", "message"}} with the status and
/// Retry-After of the code (common/errc.hpp). Database errors come already worded for a client
/// (db_pool.hpp: for_client).
http_server::response error_reply(const error& e);

}  // namespace llmp::monitor

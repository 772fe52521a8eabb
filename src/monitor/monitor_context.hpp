#pragma once
// monitor_context: what the HTTP handlers of the monitor read. Built by monitor_service, which
// owns every member and outlives the handlers; each member documents its own thread rules.

#include "monitor/config.hpp"

#include <functional>
#include <string>

namespace llmp::monitor {

class db_pool;
class live_workers;
class queue_sampler;
class heartbeat_listener;
class static_files;

struct monitor_context {
    const monitor_config& cfg;
    db_pool& db;
    live_workers& workers;
    queue_sampler& queues;
    heartbeat_listener& heartbeats;
    const static_files& files;
    /// Prometheus text for GET /metrics; empty function = no /metrics route (see README).
    std::function<std::string()> metrics_text;
};

}  // namespace llmp::monitor

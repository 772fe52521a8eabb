#pragma once
// monitor_context: what the HTTP handlers of the monitor read. Built by monitor_service, which
// owns every member and outlives the handlers; each member documents its own thread rules.

#include "monitor/config.hpp"

namespace llmp::monitor {

class db_pool;
class live_workers;
class queue_sampler;
class heartbeat_listener;
class static_files;
class monitor_auth;
class host_guard;
class ingest_health;
class shared_reads;
class model_metrics;
}  // namespace llmp::monitor

namespace llmp::metrics {
class registry;
class http_metrics;
}  // namespace llmp::metrics

namespace llmp::monitor {

struct monitor_context {
    const monitor_config& cfg;
    db_pool& db;
    live_workers& workers;
    queue_sampler& queues;
    heartbeat_listener& heartbeats;
    const static_files& files;
    /// GET /metrics renders this registry; `http` counts and times every /api/ route.
    metrics::registry& registry;
    metrics::http_metrics& http;
    /// Who is asking (--auth) and which Host/Origin may ask (--allowed-hosts).
    monitor_auth& auth;
    const host_guard& hosts;
    /// Whether the audit keeps up and the dead-letter queue is empty (/api/status).
    const ingest_health& ingest;
    /// The dashboard's database reads, shared by every tab (one query for callers that ask at
    /// once, answers kept a few seconds).
    shared_reads& reads;
    /// /metrics by model (model_metrics.hpp): set on each scrape.
    model_metrics& model_gauges;
};

}  // namespace llmp::monitor

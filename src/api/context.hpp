#pragma once
// The state the API server's parts share, built once by api_server and passed by reference
// (no globals). Thread-safety: each member documents its own; the config is read-only.

#include "api/config.hpp"
#include "api/fair_share.hpp"
#include "api/stream_registry.hpp"
#include "api/worker_registry.hpp"
#include "broker/topology.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace llmp::keys {
class key_ring;
}

namespace llmp::api {

class api_metrics;
using keys::key_ring;  // keys/key_ring.hpp
class request_publisher;
}  // namespace llmp::api
namespace llmp::limits {
class limiter;
}  // namespace llmp::limits
namespace llmp::api {

/// What the relay counts for the server itself: open streams (the max_streams cap, the drain on
/// SIGTERM, the streams gauge) and how queued generations ended (the shutdown log line).
struct counters {
    std::atomic<std::int64_t> streams_open{0};
    std::atomic<std::int64_t> completed{0};
    std::atomic<std::int64_t> failed{0};
};

struct context {
    context(const api_config& c, std::string id)
        : cfg{c}, server_id{std::move(id)}, topo{c.broker.prefix}, workers{c.worker_ttl} {}

    const api_config& cfg;
    const std::string server_id;
    const broker::topology topo;
    request_publisher* publisher = nullptr;  ///< set by api_server; never null while serving
    api_metrics* metrics = nullptr;          ///< set by api_server; never null while serving
    const key_ring* keys = nullptr;          ///< set by api_server with --auth keys; null = no auth
    limits::limiter* limiter = nullptr;      ///< set by api_server with --auth keys: per-key limits
    fair_share shares;                       ///< open streams per key (used with auth keys and cfg.fair_share)
    stream_registry streams;
    worker_registry workers;
    counters stats;
};

}  // namespace llmp::api

#pragma once
// API server configuration. Filled by programs/api.cpp from flags and LLMPROXY_* variables.

#include "broker/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace llmp::api {

struct api_config {
    broker::broker_config broker;
    /// Address and port to listen on (port 0 = pick a free one; the log says which).
    std::string listen_address = "0.0.0.0";
    std::uint16_t port = 8080;
    /// I/O threads running the io_context.
    int io_threads = 2;
    /// Largest accepted request body.
    std::uint64_t body_limit = 1 << 20;
    /// Longest wait for the next event of a stream (first token included) before it ends
    /// with error "timeout".
    std::chrono::milliseconds stream_idle_timeout{300000};
    /// Per-request deadline, carried to the worker (message expiration). 0 = none.
    std::chrono::milliseconds request_timeout{600000};
    /// Largest deadline a client may ask for (X-Request-Timeout-Ms, body timeout_ms; 400
    /// beyond). At most 2^32-1: it becomes the AMQP message expiration.
    std::chrono::milliseconds max_request_timeout{3600000};
    /// Undelivered text one stream may hold for a slow client before it is cut off.
    std::size_t max_stream_buffer = 4 << 20;
    /// Open streams this server holds at most; past it new requests get 503. 0 = no limit.
    std::int64_t max_streams = 10000;
    /// Requests waiting to be published; past it new requests get 503.
    std::size_t max_pending_publishes = 10000;
    /// A worker whose heartbeat is older than this drops out of /api/models (3 heartbeats).
    std::chrono::milliseconds worker_ttl{6000};
    /// How long SIGTERM waits for open streams before cutting them off.
    std::chrono::milliseconds drain_timeout{10000};
    /// Unique id of this server (a routing-key word); empty = generated.
    std::string server_id;
};

}  // namespace llmp::api

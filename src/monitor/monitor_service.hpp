#pragma once
// monitor_service: `llmproxy monitor` assembled — the HTTP server (dashboard + /api/), the
// database pool, the heartbeat listener and the queue sampler.
//
// Threads: --io-threads Asio threads (HTTP, queue sampler), --db-threads database threads (one
// PGconn each), the heartbeat consumer thread (one AMQP connection) and its starter.
// Lifecycle: construct, start() (binds the port: a failure is a start-up error), run() until
// SIGINT/SIGTERM, which stops accepting, answers queued queries, waits up to 2 s for running
// ones, then stops the io_context and joins everything in reverse start order.

#include "common/result.hpp"
#include "monitor/config.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace llmp::monitor {

class monitor_service {
public:
    explicit monitor_service(monitor_config cfg);
    ~monitor_service();

    result<void> start();
    std::uint16_t port() const;
    /// Blocks until a stop signal; returns the exit code.
    int run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::monitor

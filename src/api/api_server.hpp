#pragma once
// api_server: the `llmproxy api` process, assembled. Owns
//   - the HTTP listener on an io_context run by cfg.io_threads threads,
//   - a publisher thread (requests, discover) and
//   - a consumer thread (this server's response queue + worker heartbeats),
// each thread owning its own AMQP connection.
//
// Lifecycle (main thread): construct -> start() (connects; a failure is a start-up error) ->
// run() blocks until SIGINT/SIGTERM, then drains streams up to cfg.drain_timeout and stops
// everything in reverse order.

#include "api/config.hpp"
#include "common/result.hpp"

#include <memory>

namespace llmp::api {

class api_server {
public:
    explicit api_server(api_config cfg);
    ~api_server();

    result<void> start();
    /// The port actually bound (useful with port 0).
    std::uint16_t port() const;
    /// Serves until a stop signal (or request_stop()), then shuts down. Returns the exit code.
    int run();
    void request_stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::api

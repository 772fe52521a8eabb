#pragma once
// exporter: a small HTTP server of its own for processes that have none (worker, audit):
// GET /metrics (the registry) and GET /healthz, on one io_context run by one thread it owns.
//
// Lifecycle (main thread): construct -> start() (binds; a bind failure is a start-up error)
// -> ... -> stop() or the destructor (stops accepting, stops the thread, joins).

#include "common/result.hpp"
#include "metrics/registry.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace llmp::metrics {

struct exporter_config {
    /// Address to listen on. Loopback by default: a scraper on another host needs an explicit
    /// --metrics-listen.
    std::string listen_address = "127.0.0.1";
    /// Port (0 = pick a free one; port() says which). Negative = no exporter.
    int port = -1;
};

class exporter {
public:
    exporter(exporter_config cfg, const registry& reg);
    ~exporter();
    exporter(const exporter&) = delete;
    exporter& operator=(const exporter&) = delete;

    result<void> start();
    void stop();
    std::uint16_t port() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::metrics

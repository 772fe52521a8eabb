#pragma once
// HTTP glue for metrics:
//   - add_http_route(router, registry): GET /metrics renders the registry (text format 0.0.4);
//   - http_metrics: counts every request by route and status and times it, by wrapping the
//     router's handlers (router::wrap), so a new route is measured without code of its own.
//
// Route labels are the registered paths (bounded by the code); requests that match no route
// count under route="unmatched", so a scanner cannot blow up the label set. Status values are
// bounded too (100..599).
//
// Thread-safety: instrument() at start-up on one thread; the wrapped handlers run on any
// connection strand and touch only atomics and pointers cached at instrument() time.

#include "http/router.hpp"
#include "metrics/registry.hpp"

#include <array>
#include <atomic>
#include <deque>
#include <string>

namespace llmp::metrics {

void add_http_route(http_server::router& routes, const registry& reg);

class http_metrics {
public:
    /// Registers llmproxy_http_requests_total{route,status} and
    /// llmproxy_request_duration_seconds{route}.
    explicit http_metrics(registry& reg);

    /// Wraps every route of `routes` (call after the last route is added).
    void instrument(http_server::router& routes);

private:
    struct route_metrics {
        std::string route;
        histogram* duration = nullptr;
        /// Child per status code, created on first use (the lock is taken once per status).
        std::array<std::atomic<counter*>, 600> by_status{};
    };
    counter& requests_for(route_metrics& r, unsigned status);

    family<counter>& requests_;
    family<histogram>& duration_;
    std::deque<route_metrics> routes_;  // one per route; stable addresses
};

}  // namespace llmp::metrics

#include "metrics/http_metrics.hpp"

#include "common/clock.hpp"

#include <boost/beast/http/string_body.hpp>

#include <chrono>

namespace llmp::metrics {

void add_http_route(http_server::router& routes, const registry& reg) {
    routes.add(http::verb::get, "/metrics", [&reg](http_server::request_context& rc) -> net::awaitable<void> {
        http_server::response res{http::status::ok, rc.req.version()};
        res.set(http::field::content_type, content_type);
        reg.render(res.body());
        co_await http_server::send(rc, std::move(res));
    });
}

http_metrics::http_metrics(registry& reg)
    : requests_{reg.counters("llmproxy_http_requests_total", "HTTP requests answered, by route and response status.",
                             {"route", "status"})},
      duration_{reg.histograms("llmproxy_request_duration_seconds",
                               "Time from a request's arrival to the end of its response (a whole stream for "
                               "generations), by route.",
                               buckets::latency_long(), {"route"})} {}

counter& http_metrics::requests_for(route_metrics& r, unsigned status) {
    if (status >= r.by_status.size()) {
        status = 0;  // no response was written (the client left first)
    }
    auto& slot = r.by_status[status];
    counter* c = slot.load(std::memory_order_acquire);
    if (c == nullptr) {
        // Two threads may race here; family::with returns the same child to both.
        c = &requests_.with({r.route, std::to_string(status)});
        slot.store(c, std::memory_order_release);
    }
    return *c;
}

void http_metrics::instrument(http_server::router& routes) {
    routes.wrap([this](http::verb, std::string_view path, http_server::handler inner) -> http_server::handler {
        auto& r = routes_.emplace_back();
        r.route = path.empty() ? "unmatched" : std::string{path};
        r.duration = &duration_.with({r.route});
        return [this, &r, inner = std::move(inner)](http_server::request_context& rc) -> net::awaitable<void> {
            auto t0 = steady::now();
            co_await inner(rc);
            r.duration->observe(std::chrono::duration<double>(steady::now() - t0).count());
            requests_for(r, rc.status).inc();
        };
    });
}

}  // namespace llmp::metrics

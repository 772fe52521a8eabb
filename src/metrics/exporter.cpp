#include "metrics/exporter.hpp"

#include "http/error_response.hpp"
#include "http/router.hpp"
#include "metrics/http_metrics.hpp"

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <thread>

namespace llmp::metrics {
namespace {

// A plain function: braced nlohmann::json initialisers in a coroutine body trip g++ 12.
http_server::response healthz_response() {
    return http_server::json_response(http::status::ok, {{"status", "ok"}});
}

}  // namespace

struct exporter::impl {
    impl(exporter_config c, const registry& r) : cfg{std::move(c)}, reg{r} {}

    exporter_config cfg;
    const registry& reg;
    net::io_context ioc{1};
    http_server::router routes;
    std::shared_ptr<http_server::listener> listener;
    std::thread thread;
};

exporter::exporter(exporter_config cfg, const registry& reg) : impl_{std::make_unique<impl>(std::move(cfg), reg)} {}

exporter::~exporter() {
    stop();
}

result<void> exporter::start() {
    auto& s = *impl_;
    add_http_route(s.routes, s.reg);
    s.routes.add(http::verb::get, "/healthz", [](http_server::request_context& rc) -> net::awaitable<void> {
        auto res = healthz_response();
        co_await http_server::send(rc, std::move(res));
    });
    try {
        auto addr = net::ip::make_address(s.cfg.listen_address);
        s.listener = std::make_shared<http_server::listener>(
            s.ioc, net::ip::tcp::endpoint{addr, static_cast<std::uint16_t>(s.cfg.port)},
            [this](http_server::request_context& rc) { return impl_->routes.dispatch(rc); },
            http_server::server_limits{});
    } catch (const std::exception& e) {
        return fail("bad_config", "cannot serve metrics on " + s.cfg.listen_address + ":" + std::to_string(s.cfg.port) +
                                      ": " + e.what());
    }
    s.listener->start();
    s.thread = std::thread{[&s] {
        auto work = net::make_work_guard(s.ioc);
        s.ioc.run();
    }};
    return ok();
}

void exporter::stop() {
    auto& s = *impl_;
    if (!s.thread.joinable()) {
        return;
    }
    s.listener->stop();
    s.ioc.stop();
    s.thread.join();
}

std::uint16_t exporter::port() const {
    return impl_->listener ? impl_->listener->port() : 0;
}

}  // namespace llmp::metrics

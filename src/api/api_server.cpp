#include "api/api_server.hpp"

#include "api/anthropic_renderer.hpp"
#include "api/anthropic_routes.hpp"
#include "api/api_metrics.hpp"
#include "api/auth.hpp"
#include "api/background_bindings.hpp"
#include "api/broker_request_publisher.hpp"
#include "api/context.hpp"
#include "api/embedding_routes.hpp"
#include "api/native_routes.hpp"
#include "api/logger.hpp"
#include "api/model_listing.hpp"
#include "api/ollama_renderer.hpp"
#include "api/ollama_routes.hpp"
#include "api/openai_renderer.hpp"
#include "api/openai_routes.hpp"
#include "api/response_router.hpp"
#include "api/responses_routes.hpp"
#include "api/native_streams.hpp"
#include "api/responses_store.hpp"
#include "broker/connection.hpp"
#include "broker/consumer.hpp"
#include "broker/publisher.hpp"
#include "common/ids.hpp"
#include "common/secret_mask.hpp"
#include "http/error_response.hpp"
#include "http/media_type.hpp"
#include "http/router.hpp"
#include "limits/limiter.hpp"
#include "limits/redis_store.hpp"
#include "pg/connection.hpp"
#include "metrics/http_metrics.hpp"
#include "metrics/process_collector.hpp"
#include "metrics/registry.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <thread>
#include <vector>

namespace llmp::api {

using http_server::json_response;

namespace {

/// A handler from a plain function that builds the whole response. (Also keeps braced
/// nlohmann::json initializers out of coroutine bodies, which g++ 12 miscompiles.)
template <class F>
http_server::handler plain(F build) {
    return [build](http_server::request_context& rc) -> net::awaitable<void> {
        co_await http_server::send(rc, build(rc));
    };
}

/// An error answered in the shape of the route of `target`: a request the server could not read
/// (413, 400), a POST body that is not JSON (415).
http_server::response flavoured_error(std::string_view target, const error& e) {
    if (target == "/v1/messages" || target.starts_with("/v1/messages?")) {
        return anthropic_error_response(e);
    }
    if (target.starts_with("/v1/")) {
        return openai_error_response(e);
    }
    if (target.starts_with("/ollama/")) {
        return ollama_error_response(e);
    }
    return http_server::error_response(e);
}

/// The generation routes take JSON only: a text/plain or form-encoded POST is what a web page
/// can send cross-site without a CORS preflight. 415 in the route's shape otherwise.
http_server::handler json_only(http_server::handler inner) {
    // Not a coroutine: it returns the inner handler's (or the 415's) awaitable, so it adds no
    // frame to the ones an open stream holds (issue 13, item 5).
    return [inner = std::move(inner)](http_server::request_context& rc) -> net::awaitable<void> {
        if (!http_server::has_json_body(rc.req)) {
            auto ct = rc.req.find(http::field::content_type);
            std::string got = ct == rc.req.end() ? "none" : std::string{ct->value()};
            auto res = flavoured_error(rc.req.target(), {"unsupported_media_type",
                                                         "the request body must be JSON: send Content-Type: "
                                                         "application/json (got: " +
                                                             got + ")"});
            return http_server::send(rc, std::move(res));
        }
        return inner(rc);
    };
}

/// Routes anyone may call whatever --auth says: probes and Prometheus.
bool open_route(std::string_view path) {
    return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

/// --auth keys: 401 in the route's shape, before the body is looked at, for a request without a
/// usable key. The key found goes to the handler (rc.principal): the generation routes' relay
/// checks its model and limits without hashing and looking it up again.
http_server::handler authenticated(const key_ring& ring, http_server::handler inner) {
    return [&ring, inner = std::move(inner)](http_server::request_context& rc) -> net::awaitable<void> {
        auto header = [&rc](std::string_view name) -> std::optional<std::string_view> {
            auto found = rc.req.find(name);
            return found == rc.req.end() ? std::nullopt : std::optional<std::string_view>{found->value()};
        };
        auto key = authenticate(ring, header("Authorization"), header("x-api-key"));
        if (!key) {
            auto res = flavoured_error(rc.req.target(), key.error());
            if (res.result() == http::status::unauthorized) {  // not on a viewer key's 403
                res.set(http::field::www_authenticate, "Bearer");
            }
            co_await http_server::send(rc, std::move(res));
            co_return;
        }
        rc.principal = std::move(key.value());
        co_await inner(rc);
        rc.principal.reset();  // the connection's next request brings its own
    };
}

}  // namespace

struct api_server::impl {
    explicit impl(api_config c)
        : cfg{std::move(c)},
          ctx{cfg, cfg.server_id.empty() ? new_component_id("api") : cfg.server_id},
          relay_metrics{registry, ctx.stats},
          request_metrics{registry},
          contexts{cfg.io_threads},
          ioc{contexts.main()},
          signals{ioc, SIGINT, SIGTERM} {
        ctx.metrics = &relay_metrics;
        metrics::add_build_info(registry);
        metrics::add_process_metrics(registry);
        registry
            .callback("llmproxy_broker_connected", "1 while both broker connections (publish, consume) are up.",
                      metrics::metric_type::gauge)
            .add({},
                 [this] { return publisher && consumer && publisher->connected() && consumer->connected() ? 1 : 0; });
        auto listener_stat = [this](auto field) {
            return [this, field] { return listener ? static_cast<double>(listener->stats().*field) : 0.0; };
        };
        registry.callback("llmproxy_http_connections_open", "HTTP connections open now.", metrics::metric_type::gauge)
            .add({}, listener_stat(&http_server::listener_stats::open_connections));
        registry
            .callback("llmproxy_http_connections_refused_total",
                      "Connections closed at once because --max-connections or --max-connections-per-ip was "
                      "reached.",
                      metrics::metric_type::counter)
            .add({}, listener_stat(&http_server::listener_stats::refused_connections));
        registry
            .callback("llmproxy_http_accept_backoffs_total",
                      "Accept failures for lack of file descriptors or memory, each followed by a pause.",
                      metrics::metric_type::counter)
            .add({}, listener_stat(&http_server::listener_stats::accept_backoffs));
    }

    api_config cfg;
    metrics::registry registry;  // before everything that holds children of it
    context ctx;
    api_metrics relay_metrics;
    metrics::http_metrics request_metrics;
    /// --auth keys only. Before the io_context: a relay destroyed with it settles its limits.
    std::unique_ptr<limits::limiter> limiter;
    /// One io_context per I/O thread; each HTTP connection lives on one of them.
    http_server::io_context_pool contexts;
    /// contexts.main(): the acceptor, signals, drain and confirmation timers.
    net::io_context& ioc;
    net::signal_set signals;
    std::unique_ptr<broker::publisher> publisher;
    std::unique_ptr<broker_request_publisher> requests;  ///< the relay's view of `publisher`
    std::unique_ptr<broker::consumer> consumer;
    std::unique_ptr<background_bindings> bindings;  ///< jobs for `consumer`'s thread
    std::shared_ptr<http_server::listener> listener;
    http_server::router routes;
    key_ring keys;
    std::unique_ptr<key_refresher> key_loader;  ///< --auth keys only
    /// With --redis-url. After the io_context, so it goes (its thread joined) before the
    /// io_context it posts to; the limiter its thread calls into goes after both.
    std::unique_ptr<limits::redis_store> redis;
    /// --responses-db only. Its threads post to the io_context: stopped (joined) in run() after
    /// the io_context stops, and in the destructor before the io_context goes.
    std::unique_ptr<responses_store> responses;

    /// The per-key limits: in Redis with --redis-url (reachable or not: it connects in the
    /// background and the limiter counts locally meanwhile), else in this process.
    result<void> start_limits() {
        if (!cfg.redis_url.empty()) {
            limits::redis_options o;
            o.url = cfg.redis_url;
            o.timeout = cfg.redis_timeout;
            auto r = limits::redis_store::create(o);
            if (!r) {
                return fail("bad_config", "--redis-url: " + r.error().message);
            }
            redis = std::move(r.value());
        }
        limits::limiter_config lc;
        lc.window = cfg.limit_window;
        limiter = std::make_unique<limits::limiter>(lc, redis.get());
        if (redis) {
            // The limiter's stream slots are released and renewed from the store's thread.
            redis->set_tick([l = limiter.get()] { l->tick(); }, std::chrono::milliseconds{100});
            redis->start();
            // A moment for the first connect, so a server started with Redis up counts in it
            // from its first request (not a condition: an unreachable Redis is not fatal).
            redis->wait_connected(cfg.redis_timeout * 2);
        }
        ctx.limiter = limiter.get();
        add_limit_metrics();
        return ok();
    }

    void add_limit_metrics() {
        auto& refused = registry.callback("llmproxy_limit_refusals_total",
                                          "Requests refused with 429 by an API key's limit, by limit.",
                                          metrics::metric_type::counter, {"limit"});
        for (int i = 1; i < limits::limit_kind_count; ++i) {
            auto kind = static_cast<limits::limit_kind>(i);
            refused.add({std::string{limits::name_of(kind)}}, [this, i] {
                return static_cast<double>(limiter->stats().refused[static_cast<std::size_t>(i)].load());
            });
        }
        auto& admissions = registry.callback(
            "llmproxy_limit_admissions_total",
            "Limit checks of keys with limits, by where they were counted: redis (the fleet) or local (this "
            "process: no --redis-url, or Redis unreachable).",
            metrics::metric_type::counter, {"store"});
        admissions.add({"redis"}, [this] { return static_cast<double>(limiter->stats().shared_admissions.load()); });
        admissions.add({"local"}, [this] { return static_cast<double>(limiter->stats().local_admissions.load()); });
        registry
            .callback("llmproxy_limit_store_up",
                      "1 while the Redis of --redis-url is reachable and limits count across the fleet; 0 while "
                      "they count in this process only (no --redis-url, or Redis unreachable).",
                      metrics::metric_type::gauge)
            .add({}, [this] { return limiter->shared_up() ? 1 : 0; });
    }

    /// /readyz's word on the limits (never a reason for 503: an unreachable Redis only loosens them).
    nlohmann::json limits_json() const {
        if (!limiter) {
            return "off";
        }
        if (!limiter->has_shared()) {
            return {{"store", "local"}, {"redis", "not configured"}};
        }
        bool up = limiter->shared_up();
        return {{"store", up ? "redis" : "local"}, {"redis", up ? "up" : "unreachable"}};
    }

    nlohmann::json workers_json() const {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& w : ctx.workers.live()) {
            list.push_back({{"worker_id", w.worker_id},
                            {"host", w.host},
                            {"provider", w.provider},
                            {"models", w.models},
                            {"in_flight", w.in_flight},
                            {"concurrency", w.concurrency},
                            {"tokens_per_s", w.tokens_per_s},
                            {"requests_total", w.requests_total},
                            {"tokens_total", w.tokens_total}});
        }
        return {{"workers", list}};
    }

    void end_all_streams(const error_message& why) {
        for (auto& sink : ctx.streams.snapshot()) {
            sink->deliver(why);
        }
    }

    void publish_discover() {
        broker::publish_job job;
        job.msg.exchange = ctx.topo.control_exchange;
        job.msg.routing_key = std::string{broker::discover_key};
        job.msg.body = ctx.server_id;
        publisher->try_publish(std::move(job));
    }

    void build_routes() {
        add_native_routes(routes, ctx);
        routes.add(
            http::verb::get, "/api/models", plain([this](http_server::request_context&) {
                nlohmann::json models = nlohmann::json::array();
                for (const auto& m : list_models(ctx.workers, ctx.cfg.aliases)) {
                    nlohmann::json entry = {
                        {"name", m.name}, {"model", m.name}, {"workers", m.workers}, {"free_slots", m.free_slots}};
                    if (m.alias()) {
                        entry["alias_of"] = m.target;
                    }
                    models.push_back(std::move(entry));
                }
                return json_response(http::status::ok, {{"models", models}});
            }));
        routes.add(http::verb::get, "/api/workers", plain([this](http_server::request_context&) {
                       return json_response(http::status::ok, workers_json());
                   }));
        routes.add(http::verb::get, "/healthz", plain([](http_server::request_context&) {
                       return json_response(http::status::ok, {{"status", "ok"}});
                   }));
        add_openai_routes(routes, ctx);
        add_responses_routes(routes, ctx, responses.get());
        add_native_stream_routes(routes, ctx, responses.get());
        add_ollama_routes(routes, ctx);
        add_anthropic_routes(routes, ctx);
        add_embedding_routes(routes, ctx);
        routes.add(http::verb::get, "/readyz", plain([this](http_server::request_context&) {
                       bool broker_ok = publisher->connected() && consumer->connected();
                       auto live = ctx.workers.live().size();
                       auto status = broker_ok && live > 0 ? http::status::ok : http::status::service_unavailable;
                       return json_response(status, {{"broker", broker_ok},
                                                     {"workers", live},
                                                     {"limits", limits_json()},
                                                     {"status", status == http::status::ok ? "ready" : "not ready"}});
                   }));
    }
};

api_server::api_server(api_config cfg) : impl_{std::make_unique<impl>(std::move(cfg))} {}

api_server::~api_server() {
    auto& s = *impl_;
    s.contexts.stop();
    if (s.responses) {
        s.responses->stop();
    }
    if (s.consumer) {
        s.consumer->stop();
    }
    if (s.publisher) {
        s.publisher->stop();
    }
}

result<void> api_server::start() {
    auto& s = *impl_;
    auto log = api::logger();
    const auto& topo = s.ctx.topo;
    const auto& bcfg = s.cfg.broker;

    s.publisher = std::make_unique<broker::publisher>(
        bcfg, "llmproxy api " + s.ctx.server_id + " publisher",
        [&topo, &bcfg](broker::connection& c) { return broker::declare_core(c, topo, bcfg); },
        broker::publisher::return_fn{}, broker::publisher::state_fn{}, s.cfg.max_pending_publishes);
    if (auto r = s.publisher->start(); !r) {
        return r;
    }
    s.requests = std::make_unique<broker_request_publisher>(*s.publisher, topo, s.ctx.server_id,
                                                            s.cfg.delivery_confirm_interval.count() > 0);
    s.ctx.publisher = s.requests.get();

    s.bindings = std::make_unique<background_bindings>(
        topo.server_queue(s.ctx.server_id), topo.responses_exchange,
        [this](background_bindings::connection_job job) { impl_->consumer->run_with_connection(std::move(job)); });
    s.ctx.bindings = s.bindings.get();
    auto setup_consumer = [this, &topo, &bcfg](broker::connection& c) -> result<void> {
        auto& s = *impl_;
        if (auto r = broker::declare_core(c, topo, bcfg); !r) {
            return r;
        }
        broker::queue_options own{.durable = false, .exclusive = true, .auto_delete = true, .arguments = {}};
        auto q = c.declare_queue(topo.server_queue(s.ctx.server_id), own);
        if (!q) {
            return q.error();
        }
        if (auto r = c.bind_queue(q.value(), topo.responses_exchange, s.ctx.server_id + ".#"); !r) {
            return r;
        }
        if (auto r = s.bindings->bind_all(c); !r) {  // the background streams followed here
            return r;
        }
        if (auto r = c.consume(q.value(), /*no_ack=*/true); !r) {
            return r.error();
        }
        auto control = c.declare_queue("", own);
        if (!control) {
            return control.error();
        }
        if (auto r = c.bind_queue(control.value(), topo.control_exchange, std::string{broker::heartbeat_key}); !r) {
            return r;
        }
        if (auto r = c.consume(control.value(), /*no_ack=*/true); !r) {
            return r.error();
        }
        return ok();
    };
    s.consumer = std::make_unique<broker::consumer>(
        bcfg, "llmproxy api " + s.ctx.server_id + " consumer", setup_consumer,
        [this](broker::delivery&& d, std::uint64_t) { route_delivery(impl_->ctx, std::move(d)); },
        [this](bool connected) {
            if (connected) {
                impl_->publish_discover();  // the new control queue missed the last heartbeats
                return;
            }
            // The response queue died with the connection: no chunk of an open stream can
            // arrive any more. End them now rather than let them time out.
            impl_->end_all_streams(error_message{
                "broker_unavailable", "lost the connection to the message broker mid-stream; retry the request", true});
        });
    if (auto r = s.consumer->start(); !r) {
        return r;
    }
    s.publish_discover();

    if (s.cfg.auth == auth_mode::keys) {
        auto loader = key_refresher::start(s.keys, s.cfg.database_url, s.cfg.key_refresh_interval);
        if (!loader) {
            return fail("bad_config", "--auth keys: cannot load the API keys from PostgreSQL (" +
                                          mask_secrets(s.cfg.database_url) + "): " + loader.error().message);
        }
        s.key_loader = std::move(loader.value());
        s.ctx.keys = &s.keys;
        if (auto r = s.start_limits(); !r) {
            return r;
        }
    }
    if (s.cfg.responses_db) {
        if (auto r = pg::check_url(s.cfg.database_url); !r) {
            return fail("bad_config", "--responses-db on: --database-url: " + r.error().message);
        }
        responses_store_config rc;
        rc.database_url = s.cfg.database_url;
        s.responses = std::make_unique<responses_store>(rc);
        s.responses->start();
    }
    s.build_routes();
    metrics::add_http_route(s.routes, s.registry);
    // Every route is counted and timed; POST routes are the generation routes (TTFT), but for
    // the cancel of a background response and the embedding routes.
    s.routes.wrap([&s](http::verb method, std::string_view path, http_server::handler h) {
        // POST /v1/responses/{id}/cancel is no generation and has no body (openai-node sends none).
        if (method == http::verb::post && path != "/v1/responses/*") {
            // Embedding routes have no first token: their numbers are llmproxy_embedding*.
            if (!path.ends_with("/embeddings") && !path.ends_with("/embed")) {
                s.relay_metrics.add_generation_route(path);
            }
            h = json_only(std::move(h));
        }
        if (s.ctx.keys != nullptr && !open_route(path)) {
            h = authenticated(*s.ctx.keys, std::move(h));
        }
        return h;
    });
    s.request_metrics.instrument(s.routes);
    http_server::server_limits limits;
    limits.body_limit = s.cfg.body_limit;
    for (const char* route :
         {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/ollama/api/chat", "/ollama/api/generate",
          "/ollama/api/embed", "/ollama/api/embeddings", "/api/chat", "/api/generate"}) {
        limits.route_body_limits.emplace_back(route,
                                              s.cfg.media_body_limit == 0 ? s.cfg.body_limit : s.cfg.media_body_limit);
    }
    limits.write_timeout = s.cfg.write_timeout;
    limits.read_timeout = s.cfg.read_timeout;
    limits.idle_timeout = s.cfg.idle_timeout;
    limits.max_connections = s.cfg.max_connections;
    limits.max_connections_per_address = s.cfg.max_connections_per_ip;
    try {
        auto addr = net::ip::make_address(s.cfg.listen_address);
        s.listener = std::make_shared<http_server::listener>(
            s.contexts, net::ip::tcp::endpoint{addr, s.cfg.port},
            [this](http_server::request_context& rc) { return impl_->routes.dispatch(rc); }, limits, flavoured_error);
    } catch (const std::exception& e) {
        return fail("bad_config",
                    "cannot listen on " + s.cfg.listen_address + ":" + std::to_string(s.cfg.port) + ": " + e.what());
    }
    s.listener->start();
    log->info("msg=\"api server started\" server_id={} listen={}:{} io_threads={} amqp_prefix={}", s.ctx.server_id,
              s.cfg.listen_address, s.listener->port(), s.cfg.io_threads, bcfg.prefix);
    return ok();
}

std::uint16_t api_server::port() const {
    return impl_->listener ? impl_->listener->port() : 0;
}

void api_server::request_stop() {
    net::post(impl_->ioc, [this] { impl_->signals.cancel(); });
}

int api_server::run() {
    auto& s = *impl_;
    auto log = api::logger();
    auto work = net::make_work_guard(s.ioc);
    s.signals.async_wait([&s, log](boost::system::error_code, int sig) {
        log->info("msg=\"stopping\" signal={} open_streams={}", sig, s.ctx.stats.streams_open.load());
        s.listener->stop();
        // Drain: poll until the open streams end or the deadline passes.
        auto deadline = std::chrono::steady_clock::now() + s.cfg.drain_timeout;
        net::co_spawn(
            s.ioc,
            [&s, deadline]() -> net::awaitable<void> {
                net::steady_timer t{s.ioc};
                while (s.ctx.stats.streams_open.load() > 0 && std::chrono::steady_clock::now() < deadline) {
                    t.expires_after(std::chrono::milliseconds{50});
                    co_await t.async_wait(net::use_awaitable);
                }
                // Past the drain deadline: end what is left with an error event, and give those
                // writes a moment before the io_context stops.
                if (s.ctx.stats.streams_open.load() > 0) {
                    s.end_all_streams(
                        error_message{"shutting_down", "the server is shutting down; retry the request", true});
                    auto cut = std::chrono::steady_clock::now() + std::chrono::seconds{2};
                    while (s.ctx.stats.streams_open.load() > 0 && std::chrono::steady_clock::now() < cut) {
                        t.expires_after(std::chrono::milliseconds{20});
                        co_await t.async_wait(net::use_awaitable);
                    }
                }
                s.contexts.stop();
            },
            net::detached);
    });
    const bool confirms = s.cfg.delivery_confirm_interval.count() > 0;
    if (confirms) {
        // The delivery confirmations, and this server's keep-alive towards the audit: a server
        // whose confirmations stop is judged lost (docs/architecture.md, Audit).
        net::co_spawn(
            s.ioc,
            [&s]() -> net::awaitable<void> {
                net::steady_timer t{s.ioc};
                while (true) {
                    t.expires_after(broker_request_publisher::confirm_gap);
                    co_await t.async_wait(net::use_awaitable);
                    s.requests->tick(s.cfg.delivery_confirm_interval);
                }
            },
            net::detached);
    }
    s.contexts.run();
    if (confirms) {
        s.requests->flush_confirmations(/*leaving=*/true);  // published before the publisher stops
    }
    if (s.responses) {
        s.responses->stop();
    }
    s.consumer->stop();
    s.publisher->stop();
    log->info("msg=\"api server stopped\" completed={} failed={}", s.ctx.stats.completed.load(),
              s.ctx.stats.failed.load());
    return 0;
}

}  // namespace llmp::api

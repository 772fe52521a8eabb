#include "monitor/monitor_service.hpp"

#include "broker/connection.hpp"
#include "broker/topology.hpp"
#include "common/run_io_context.hpp"
#include "http/server.hpp"
#include "keys/key_ring.hpp"
#include "metrics/http_metrics.hpp"
#include "metrics/process_collector.hpp"
#include "metrics/registry.hpp"
#include "monitor/api_handlers.hpp"
#include "monitor/db_pool.hpp"
#include "monitor/heartbeat_listener.hpp"
#include "monitor/host_guard.hpp"
#include "monitor/ingest_health.hpp"
#include "monitor/ingest_watch.hpp"
#include "monitor/live_workers.hpp"
#include "monitor/logger.hpp"
#include "monitor/model_metrics.hpp"
#include "monitor/monitor_auth.hpp"
#include "monitor/queue_sampler.hpp"
#include "monitor/result_cache.hpp"
#include "monitor/session_store.hpp"
#include "monitor/shared_reads.hpp"
#include "monitor/static_files.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <thread>
#include <vector>

namespace llmp::monitor {
namespace {

queue_sampler_config sampler_config(const monitor_config& cfg) {
    queue_sampler_config q;
    q.mgmt_url = cfg.rabbitmq_mgmt_url;
    q.user = cfg.rabbitmq_mgmt_user;
    q.password = cfg.rabbitmq_mgmt_password;
    if (auto ep = broker::parse_amqp_url(cfg.broker.url)) {
        q.vhost = ep.value().vhost;
    }
    broker::topology t{cfg.broker.prefix};
    // The work queue first: its depth is the headline number.
    q.queues = {t.work_queue, t.audit_requests_queue, t.audit_responses_queue, t.dead_queue};
    // And every model's work queue (issue 15): the depth is what waits for any worker.
    q.model_queue_prefix = t.work_exchange + ".";
    q.interval = cfg.queue_poll_interval;
    return q;
}

ingest_watch_config ingest_config(const monitor_config& cfg) {
    broker::topology t{cfg.broker.prefix};
    ingest_watch_config w;
    w.database_url = cfg.database_url;
    w.statement_timeout = cfg.query_timeout;
    w.audit_queues = {t.audit_requests_queue, t.audit_responses_queue};
    w.dead_queue = t.dead_queue;
    w.interval = cfg.queue_poll_interval;
    return w;
}

std::vector<std::string> allowed_hosts(const monitor_config& cfg) {
    return cfg.allowed_hosts.empty() ? host_guard::defaults(cfg.listen_address) : cfg.allowed_hosts;
}

}  // namespace

struct monitor_service::impl {
    monitor_config cfg;
    metrics::registry registry;  // before everything that holds children of it
    metrics::http_metrics request_metrics{registry};
    net::io_context ioc;
    net::signal_set signals{ioc, SIGINT, SIGTERM};
    live_workers workers{cfg.worker_stale_after, std::chrono::hours{1}};
    db_pool db{cfg.database_url, cfg.db_threads, cfg.query_timeout};
    heartbeat_listener heartbeats{cfg.broker, workers};
    queue_sampler queues{ioc, sampler_config(cfg)};
    ingest_health ingest{cfg.ingest_stall_after, broker::topology{cfg.broker.prefix}.dead_queue};
    ingest_watch ingest_sampler{queues, ingest, ingest_config(cfg)};
    static_files files{cfg.web_dir};
    keys::key_ring keys;  // read with --auth keys only
    std::unique_ptr<keys::key_refresher> key_loader;
    session_store sessions{std::chrono::duration_cast<std::chrono::seconds>(cfg.session_ttl)};
    monitor_auth auth{cfg.auth == auth_mode::keys ? &keys : nullptr, sessions, cfg.cookie_secure};
    host_guard hosts{allowed_hosts(cfg)};
    shared_reads reads{db};
    model_metrics model_gauges{registry};
    monitor_context ctx{cfg,  db,    workers, queues, heartbeats,  files, registry, request_metrics,
                        auth, hosts, ingest,  reads,  model_gauges};
    std::shared_ptr<http_server::listener> listener;
    std::atomic<bool> stopping{false};

    explicit impl(monitor_config c) : cfg{std::move(c)} {
        metrics::add_build_info(registry);
        metrics::add_process_metrics(registry);
        registry
            .callback("llmproxy_monitor_database_up", "1 while the monitor's last database attempt succeeded.",
                      metrics::metric_type::gauge)
            .add({}, [this] { return db.available() ? 1.0 : 0.0; });
        registry
            .callback("llmproxy_monitor_heartbeats_connected", "1 while the heartbeat consumer is connected.",
                      metrics::metric_type::gauge)
            .add({}, [this] { return heartbeats.connected() ? 1.0 : 0.0; });
        registry
            .callback("llmproxy_monitor_live_workers", "Workers whose last heartbeat is recent.",
                      metrics::metric_type::gauge)
            .add({}, [this] {
                double n = 0;
                for (const auto& w : workers.snapshot()) {
                    n += w.state == "live" ? 1 : 0;
                }
                return n;
            });
        registry
            .callback("llmproxy_monitor_cache_hits_total",
                      "Dashboard reads answered from the shared cache, without a query.", metrics::metric_type::counter)
            .add({}, [this] { return static_cast<double>(reads.cache().hits()); });
        registry
            .callback("llmproxy_monitor_database_reads_total",
                      "Dashboard reads that ran a query (callers that asked at once share one; wide windows are "
                      "read again before they expire while a tab shows them).",
                      metrics::metric_type::counter)
            .add({}, [this] { return static_cast<double>(reads.queries()); });
    }
};

monitor_service::monitor_service(monitor_config cfg) : impl_{std::make_unique<impl>(std::move(cfg))} {}

monitor_service::~monitor_service() {
    auto& s = *impl_;
    s.db.stop();
    s.heartbeats.stop();
}

result<void> monitor_service::start() {
    auto& s = *impl_;
    boost::system::error_code ec;
    auto addr = net::ip::make_address(s.cfg.listen_address, ec);
    if (ec) {
        return fail("invalid_config", "--listen is not an IP address: " + s.cfg.listen_address);
    }
    try {
        http_server::server_limits limits;
        limits.body_limit = 64 * 1024;
        s.listener = std::make_shared<http_server::listener>(s.ioc, net::ip::tcp::endpoint{addr, s.cfg.port},
                                                             make_monitor_handler(s.ctx), limits);
    } catch (const boost::system::system_error& e) {
        return fail("bind_failed", "cannot listen on " + s.cfg.listen_address + ":" + std::to_string(s.cfg.port) +
                                       ": " + e.code().message());
    }
    if (s.cfg.auth == auth_mode::keys) {
        // Not required at start: the monitor shows what it can while PostgreSQL is down, and
        // answers 503 to every credential until the keys were loaded once.
        keys::refresher_options o;
        o.log_component = "monitor";
        o.what = "monitor keys";
        o.application_name = "llmproxy monitor keys";
        o.first_load_required = false;
        auto loader = keys::key_refresher::start(s.keys, s.cfg.database_url, s.cfg.key_refresh_interval, o);
        if (!loader) {
            return loader.error();
        }
        s.key_loader = std::move(loader.value());
    }
    s.db.start();
    s.heartbeats.start();
    s.queues.start();
    s.ingest_sampler.start();
    s.listener->start();
    // Wide windows' answers, read again before they expire while a tab shows them.
    net::co_spawn(
        s.ioc,
        [&s]() -> net::awaitable<void> {
            net::steady_timer t{s.ioc};
            for (;;) {
                t.expires_after(std::chrono::seconds{1});
                co_await t.async_wait(net::use_awaitable);
                if (s.stopping) {
                    co_return;
                }
                co_await s.reads.rewarm_due();
            }
        },
        net::detached);
    std::string hosts;
    for (const auto& h : allowed_hosts(s.cfg)) {
        hosts += (hosts.empty() ? "" : ",") + h;
    }
    logger()->info("msg=\"monitor started\" listen={}:{} web_dir=\"{}\" auth={} allowed_hosts={}", s.cfg.listen_address,
                   s.listener->port(), s.files.root().string(), s.cfg.auth == auth_mode::keys ? "keys" : "none", hosts);
    return ok();
}

std::uint16_t monitor_service::port() const {
    return impl_->listener ? impl_->listener->port() : 0;
}

int monitor_service::run() {
    auto& s = *impl_;
    auto work = net::make_work_guard(s.ioc);
    s.signals.async_wait([&s](boost::system::error_code, int sig) {
        logger()->info("msg=\"stopping\" signal={}", sig);
        s.stopping = true;
        s.listener->stop();
        s.queues.stop();
        s.db.drain();
        // Let running queries answer their clients (briefly), then stop.
        net::co_spawn(
            s.ioc,
            [&s]() -> net::awaitable<void> {
                net::steady_timer t{s.ioc};
                auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
                while (s.db.pending() > 0 && std::chrono::steady_clock::now() < deadline) {
                    t.expires_after(std::chrono::milliseconds{20});
                    co_await t.async_wait(net::use_awaitable);
                }
                t.expires_after(std::chrono::milliseconds{50});  // the answers' writes
                co_await t.async_wait(net::use_awaitable);
                s.ioc.stop();
            },
            net::detached);
    });
    run_io_context(s.ioc, s.cfg.io_threads);
    s.db.stop();
    s.heartbeats.stop();
    s.ingest_sampler.stop();
    s.key_loader.reset();
    logger()->info("msg=\"monitor stopped\"");
    return 0;
}

}  // namespace llmp::monitor

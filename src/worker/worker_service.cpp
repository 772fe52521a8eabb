#include "worker/worker_service.hpp"

#include "broker/connection.hpp"
#include "broker/consumer.hpp"
#include "broker/topology.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/run_io_context.hpp"
#include "metrics/process_collector.hpp"
#include "providers/factory.hpp"
#include "worker/generation_task.hpp"
#include "worker/logger.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace llmp::worker {

struct worker_service::impl {
    explicit impl(worker_config c)
        : cfg{std::move(c)},
          id{cfg.worker_id.empty() ? new_component_id("worker") : cfg.worker_id},
          topo{cfg.broker.prefix},
          signals{ioc, SIGINT, SIGTERM} {
        metrics::add_build_info(registry);
        metrics::add_process_metrics(registry);
    }

    worker_config cfg;
    std::string id;
    broker::topology topo;
    net::io_context ioc;
    net::signal_set signals;
    std::unique_ptr<providers::provider> provider;
    std::unique_ptr<broker::publisher> publisher;
    std::unique_ptr<broker::consumer> consumer;

    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<generation_task>> tasks;  // GUARDED_BY(mu)
    std::vector<std::string> models;                                          // GUARDED_BY(mu)

    std::atomic<bool> stopping{false};
    std::atomic<int> in_flight{0};
    std::atomic<std::int64_t> requests_total{0};
    std::atomic<std::int64_t> tokens_total{0};
    metrics::registry registry;
    worker_metrics gen_metrics{registry, in_flight};
    std::int64_t tokens_at_last_beat = 0;  // heartbeat coroutine only
    steady::time_point last_beat = steady::now();

    bool serves(const std::string& model) {
        auto name = normalize_model_name(model);
        std::lock_guard lock{mu};
        return std::find(models.begin(), models.end(), name) != models.end();
    }

    void send_heartbeat(bool leaving) {
        std::lock_guard lock{mu};
        worker_heartbeat hb;
        hb.worker_id = id;
        hb.host = host_name();
        hb.provider = std::string{provider->name()};
        hb.models = models;
        hb.in_flight = in_flight.load();
        hb.concurrency = cfg.concurrency;
        hb.requests_total = requests_total.load();
        hb.tokens_total = tokens_total.load();
        auto now = steady::now();
        double secs = std::chrono::duration<double>(now - last_beat).count();
        hb.tokens_per_s = secs > 0 ? static_cast<double>(hb.tokens_total - tokens_at_last_beat) / secs : 0;
        tokens_at_last_beat = hb.tokens_total;
        last_beat = now;
        hb.sent_at_ms = unix_ms();
        hb.leaving = leaving;
        broker::publish_job job;
        job.msg.exchange = topo.control_exchange;
        job.msg.routing_key = std::string{broker::heartbeat_key};
        job.msg.props.content_type = "application/json";
        job.msg.body = encode(hb);
        publisher->try_publish(std::move(job));
    }

    net::awaitable<void> refresh_models() {
        auto m = co_await provider->models();
        if (m) {
            std::lock_guard lock{mu};
            if (models != m.value()) {
                worker::logger()->info("msg=\"models\" provider={} count={}", provider->name(), m.value().size());
                for (const auto& name : m.value()) {
                    gen_metrics.for_model(name);  // every served model shows, at 0, from the start
                }
            }
            models = std::move(m.value());
        } else {
            worker::logger()->warn("msg=\"cannot list models\" provider={} error=\"{}\"", provider->name(),
                                   m.error().message);
        }
    }

    net::awaitable<void> heartbeat_loop() {
        net::steady_timer t{ioc};
        auto next_refresh = steady::now() + cfg.models_refresh;
        while (!stopping) {
            send_heartbeat(false);
            t.expires_after(cfg.heartbeat_interval);
            boost::system::error_code ec;
            co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
            bool no_models = false;
            {
                std::lock_guard lock{mu};
                no_models = models.empty();
            }
            if (no_models || steady::now() >= next_refresh) {
                co_await refresh_models();
                next_refresh = steady::now() + cfg.models_refresh;
            }
        }
    }

    void abandon_all(std::string_view why) {
        std::vector<std::shared_ptr<generation_task>> all;
        {
            std::lock_guard lock{mu};
            for (auto& [id, t] : tasks) {
                all.push_back(t);
            }
        }
        for (auto& t : all) {
            t->abandon(why);
        }
    }

    void cancel(const std::string& request_id, std::string_view why) {
        std::shared_ptr<generation_task> t;
        {
            std::lock_guard lock{mu};
            auto it = tasks.find(request_id);
            if (it == tasks.end()) {
                return;
            }
            t = it->second;
        }
        t->cancel(why);
    }
};

worker_service::worker_service(worker_config cfg) : impl_{std::make_unique<impl>(std::move(cfg))} {}

worker_service::~worker_service() {
    auto& s = *impl_;
    s.ioc.stop();
    if (s.consumer) {
        s.consumer->stop();
    }
    if (s.publisher) {
        s.publisher->stop();
    }
}

const worker_config& worker_service::config() const { return impl_->cfg; }
const std::string& worker_service::worker_id() const { return impl_->id; }
providers::provider& worker_service::provider() { return *impl_->provider; }
bool worker_service::publish(broker::publish_job&& job) { return impl_->publisher->try_publish(std::move(job)); }
const std::string& worker_service::responses_exchange() const { return impl_->topo.responses_exchange; }
void worker_service::ack(std::uint64_t epoch, std::uint64_t tag) { impl_->consumer->ack(epoch, tag); }
void worker_service::requeue(std::uint64_t epoch, std::uint64_t tag) { impl_->consumer->reject(epoch, tag, true); }
net::any_io_executor worker_service::executor() { return impl_->ioc.get_executor(); }
worker_metrics& worker_service::metrics() { return impl_->gen_metrics; }
const metrics::registry& worker_service::metrics_registry() const { return impl_->registry; }

void worker_service::finished(const std::string& request_id, std::int64_t tokens, bool) {
    auto& s = *impl_;
    {
        std::lock_guard lock{s.mu};
        s.tasks.erase(request_id);
    }
    --s.in_flight;
    s.tokens_total += tokens;
}

result<void> worker_service::start() {
    auto& s = *impl_;
    auto log = worker::logger();
    auto p = providers::make_provider(s.cfg.provider, s.ioc.get_executor());
    if (!p) {
        return p.error();
    }
    s.provider = std::move(p.value());

    // init() and the first model list run before serving, on this thread.
    std::optional<error> init_error;
    net::co_spawn(s.ioc, [&s, &init_error]() -> net::awaitable<void> {
        auto r = co_await s.provider->init();
        if (r) {
            co_await s.refresh_models();
        } else {
            init_error = r.error();
        }
    }, net::detached);
    s.ioc.run();
    s.ioc.restart();
    if (init_error) {
        // The upstream may come up later: serve anyway, announcing models once it answers.
        log->warn("msg=\"provider not ready; will keep retrying\" provider={} error=\"{}\"",
                  s.provider->name(), init_error->message);
    }

    const auto& topo = s.topo;
    const auto& bcfg = s.cfg.broker;
    s.publisher = std::make_unique<broker::publisher>(
        bcfg, "llmproxy worker " + s.id + " publisher",
        [&topo, &bcfg](broker::connection& c) { return broker::declare_core(c, topo, bcfg); },
        [this](broker::returned_message&& r) {
            // The API server that owned this stream is gone: stop generating for it.
            impl_->cancel(r.props.correlation_id, "response returned: " + r.reply_text);
        });
    if (auto r = s.publisher->start(); !r) {
        return r;
    }

    auto setup = [this, &topo, &bcfg](broker::connection& c) -> result<void> {
        if (auto r = broker::declare_core(c, topo, bcfg); !r) {
            return r;
        }
        if (auto r = c.set_prefetch(static_cast<std::uint16_t>(std::clamp(impl_->cfg.concurrency, 1, 65535))); !r) {
            return r;
        }
        if (auto r = c.consume(topo.work_queue, /*no_ack=*/false); !r) {
            return r.error();
        }
        broker::queue_options own{.durable = false, .exclusive = true, .auto_delete = true, .arguments = {}};
        auto control = c.declare_queue("", own);
        if (!control) {
            return control.error();
        }
        for (const char* key : {"discover", "cancel.*"}) {
            if (auto r = c.bind_queue(control.value(), topo.control_exchange, key); !r) {
                return r;
            }
        }
        if (auto r = c.consume(control.value(), /*no_ack=*/true); !r) {
            return r.error();
        }
        return ok();
    };
    auto on_delivery = [this](broker::delivery&& d, std::uint64_t epoch) {
        auto& s = *impl_;
        if (d.exchange == s.topo.control_exchange) {
            if (d.routing_key == broker::discover_key) {
                net::post(s.ioc, [&s] { s.send_heartbeat(false); });
            } else if (d.routing_key.rfind("cancel.", 0) == 0) {
                s.cancel(d.routing_key.substr(7), "cancel requested");
            }
            return;
        }
        if (s.stopping) {
            s.consumer->reject(epoch, d.delivery_tag, true);  // hand it to another worker
            return;
        }
        auto req = decode_request(d.body);
        if (!req) {
            worker::logger()->error("msg=\"malformed request dead-lettered\" error=\"{}\"", req.error().message);
            s.consumer->reject(epoch, d.delivery_tag, false);
            return;
        }
        ++s.in_flight;
        ++s.requests_total;
        auto task = std::make_shared<generation_task>(
            *this, std::move(req.value()), task_origin{epoch, d.delivery_tag, d.redelivered});
        net::post(s.ioc, [this, task] { dispatch(task); });
    };
    auto on_state = [this](bool connected) {
        if (!connected) {
            // The deliveries of this connection go back to the queue (another worker, or this
            // one after reconnecting, will redo them): stop generating them here.
            impl_->abandon_all("lost the broker connection; the request will be redelivered");
        }
    };
    s.consumer = std::make_unique<broker::consumer>(bcfg, "llmproxy worker " + s.id + " consumer", setup,
                                                    on_delivery, on_state);
    if (auto r = s.consumer->start(); !r) {
        return r;
    }
    net::co_spawn(s.ioc, s.heartbeat_loop(), net::detached);
    log->info("msg=\"worker started\" worker_id={} provider={} concurrency={} io_threads={}", s.id,
              s.provider->name(), s.cfg.concurrency, s.cfg.io_threads);
    return ok();
}

void worker_service::dispatch(const std::shared_ptr<generation_task>& task) {
    auto& s = *impl_;
    {
        std::lock_guard lock{s.mu};
        s.tasks[task->request_id()] = task;
    }
    const auto& req = task->request();
    const bool served = s.serves(req.model);
    // Only served models become label values: a client cannot grow the label set.
    task->set_metrics(&s.gen_metrics.for_model(served ? normalize_model_name(req.model) : "unserved"));
    if (req.deadline_ms != 0 && unix_ms() > req.deadline_ms) {
        task->fail({"timeout", "the request's deadline passed before a worker could start it", false});
        return;
    }
    if (!served) {
        task->fail({"model_not_found", "model '" + req.model + "' is not served by worker " + s.id, false});
        return;
    }
    task->start();
}

void worker_service::request_stop() {
    net::post(impl_->ioc, [this] { impl_->signals.cancel(); });
}

int worker_service::run() {
    auto& s = *impl_;
    auto log = worker::logger();
    auto work = net::make_work_guard(s.ioc);
    s.signals.async_wait([&s, log](boost::system::error_code, int sig) {
        log->info("msg=\"stopping\" signal={} in_flight={}", sig, s.in_flight.load());
        s.stopping = true;
        auto deadline = steady::now() + s.cfg.drain_timeout;
        net::co_spawn(s.ioc, [&s, deadline]() -> net::awaitable<void> {
            net::steady_timer t{s.ioc};
            while (s.in_flight.load() > 0 && steady::now() < deadline) {
                t.expires_after(std::chrono::milliseconds{20});
                co_await t.async_wait(net::use_awaitable);
            }
            s.send_heartbeat(true);
            s.ioc.stop();
        }, net::detached);
    });
    run_io_context(s.ioc, s.cfg.io_threads);
    // The publisher first: its last confirms queue acks, which the consumer carries out as it
    // stops. Unacked deliveries (past the drain deadline) go back to the queue when it closes.
    s.publisher->stop();
    s.consumer->stop();
    log->info("msg=\"worker stopped\" requests={} tokens={}", s.requests_total.load(), s.tokens_total.load());
    return 0;
}

}  // namespace llmp::worker

#include "worker/worker_service.hpp"

#include "broker/connection.hpp"
#include "broker/background_keys.hpp"
#include "broker/consumer.hpp"
#include "broker/topology.hpp"
#include "common/chunk_frames.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/mutex.hpp"
#include "metrics/process_collector.hpp"
#include "providers/factory.hpp"
#include "worker/generation_task.hpp"
#include "worker/logger.hpp"
#include "worker/model_subscriptions.hpp"
#include "worker/task_table.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <unordered_map>

namespace llmp::worker {
namespace {
/// The largest multiplexed chunks message: well under RabbitMQ's frame size, and a bound on
/// what one flush holds per API server.
constexpr std::size_t chunk_message_max_bytes = 128 * 1024;
}  // namespace

struct worker_service::impl final : task_host {
    explicit impl(worker_config c)
        : cfg{std::move(c)},
          id{cfg.worker_id.empty() ? new_component_id("worker") : cfg.worker_id},
          topo{cfg.broker.prefix},
          settings_{id, topo.responses_exchange, cfg.provider.policy, cfg.multiplex_chunks},
          signals{ioc, SIGINT, SIGTERM} {
        metrics::add_build_info(registry);
        metrics::add_process_metrics(registry);
    }

    // task_host (any thread).
    const task_settings& settings() const override { return settings_; }
    providers::provider& provider() override { return *provider_; }
    bool publish(broker::publish_job&& job) override { return publisher->try_publish(std::move(job)); }
    void ack(const task_origin& o) override {
        answer_settled(o);  // the lower prefetch first: the ack must not make room for one more
        consumer->ack(o.epoch, o.delivery_tag);
    }
    void requeue(const task_origin& o) override {
        answer_settled(o);
        consumer->reject(o.epoch, o.delivery_tag, true);
        gen_metrics.requeued().inc();
    }
    void task_ended(const generation_task& task, std::int64_t tokens) override {
        table.remove(task);
        --in_flight;
        tokens_total += tokens;
    }
    void generation_ended(const task_origin& o) override {
        unsettled_changed(o.epoch, +1);
        std::shared_ptr<generation_task> next;
        {
            llmp::lock_guard lock{slot_mu};
            if (ready.empty()) {
                --running;
                return;
            }
            next = std::move(ready.front());  // the slot passes to it
            ready.pop_front();
        }
        start_task(std::move(next));
    }
    net::any_io_executor executor() override { return ioc.get_executor(); }

    /// A slot for `task` (it starts now: true), or it waits in `ready` for the next one.
    bool take_slot(const std::shared_ptr<generation_task>& task) {
        llmp::lock_guard lock{slot_mu};
        if (running < cfg.concurrency) {
            ++running;
            return true;
        }
        ready.push_back(task);
        return false;
    }
    /// The deliveries waiting for a slot, out of the wait (they leave in_flight too).
    std::deque<std::shared_ptr<generation_task>> take_ready() {
        std::deque<std::shared_ptr<generation_task>> out;
        {
            llmp::lock_guard lock{slot_mu};
            out.swap(ready);
        }
        in_flight -= static_cast<int>(out.size());
        return out;
    }

    worker_config cfg;
    std::string id;
    broker::topology topo;
    task_settings settings_;
    net::io_context ioc;
    net::signal_set signals;
    std::unique_ptr<providers::provider> provider_;
    std::unique_ptr<broker::publisher> publisher;
    std::unique_ptr<broker::consumer> consumer;

    /// The tasks started and not ended, with the cancels and lost connections that decide
    /// whether one may start.
    task_table table;
    llmp::mutex mu;
    /// What the provider serves (normalized), as of the last refresh.
    std::vector<std::string> models GUARDED_BY(mu);
    /// The models whose queues the consumer reads now: heartbeats announce a model only once
    /// its queue exists and is consumed, so the API never routes to a queue not there yet.
    std::vector<std::string> consumed GUARDED_BY(mu);

    // Consumer thread only: the model queues it consumes, and the tag of its consumer on
    // work_queue (requests no model queue took; see broker/topology.hpp).
    model_subscriptions subscriptions;
    std::string unrouted_tag;
    /// Whether the broker permits one prefetch budget per channel (set by the first setup that
    /// could ask; setup only).
    std::optional<bool> shared_prefetch;

    /// Requests whose redelivered original this worker is putting back with its count (until
    /// the original's ack is written), and copies of them that arrived here meanwhile: such a
    /// copy runs only after that ack, so that if it crashes this worker the original is not
    /// redelivered too (a second copy, with the old count).
    struct parked_copy {
        request_message req;
        std::uint64_t epoch = 0;
        std::uint64_t tag = 0;
        std::int64_t attempt = 1;
    };
    llmp::mutex put_back_mu;
    std::unordered_map<std::string, std::vector<parked_copy>> putting_back GUARDED_BY(put_back_mu);

    /// The generation slots (--concurrency): a task holds one from its start until its
    /// generation ends (generation_ended), not until its answer is confirmed and acked. The
    /// prefetch is raised by the answers awaiting their confirms (unsettled_changed), so
    /// deliveries come while they wait; one that finds every slot taken (a race of an ack and
    /// the prefetch, or a per-consumer prefetch) waits in `ready`, in order.
    llmp::mutex slot_mu;
    int running GUARDED_BY(slot_mu) = 0;
    std::deque<std::shared_ptr<generation_task>> ready GUARDED_BY(slot_mu);
    /// The prefetch's part: answers of connection `prefetch_epoch` awaiting their confirm.
    llmp::mutex prefetch_mu;
    std::uint64_t prefetch_epoch GUARDED_BY(prefetch_mu) = 0;
    int unsettled GUARDED_BY(prefetch_mu) = 0;
    bool prefetch_follows GUARDED_BY(prefetch_mu) = false;  ///< the prefetch is shared (setup)
    /// Starts a task that holds a slot (set by worker_service: dispatch on the io_context).
    std::function<void(std::shared_ptr<generation_task>)> start_task;

    std::atomic<bool> stopping{false};
    std::atomic<int> in_flight{0};
    std::atomic<std::int64_t> requests_total{0};
    std::atomic<std::int64_t> tokens_total{0};
    metrics::registry registry;
    worker_metrics gen_metrics{registry, in_flight};
    std::int64_t tokens_at_last_beat = 0;  // heartbeat coroutine only
    steady::time_point last_beat = steady::now();

    /// The most answers awaiting their confirm that raise the prefetch (--prefetch-headroom).
    int headroom() const { return cfg.prefetch_headroom >= 0 ? cfg.prefetch_headroom : cfg.concurrency; }
    void answer_settled(const task_origin& o) { unsettled_changed(o.epoch, -1); }
    /// One more (or fewer) answer of connection `epoch` awaits its confirm: the prefetch follows,
    /// --concurrency plus those (up to the headroom), so the broker delivers the next request
    /// while they wait and no delivery finds every generation slot taken. Only for a shared
    /// prefetch: a per-consumer one applies to consumers started after it, not to the running.
    void unsettled_changed(std::uint64_t epoch, int delta) {
        if (headroom() == 0) {
            return;  // off (the default): the prefetch stays --concurrency, no lock per request
        }
        llmp::lock_guard lock{prefetch_mu};
        if (epoch != prefetch_epoch || !prefetch_follows) {
            return;  // a connection gone: its deliveries went back to the queue, its counts with it
        }
        const int before = std::min(unsettled, headroom());
        unsettled = std::max(0, unsettled + delta);
        const int after = std::min(unsettled, headroom());
        if (after != before) {
            consumer->change_prefetch(epoch, static_cast<std::uint16_t>(std::min(cfg.concurrency + after, 65535)),
                                      /*shared=*/true);
        }
    }
    /// A new connection (consumer thread): its prefetch is --concurrency again (setup), and no
    /// answer of it awaits a confirm yet. 0: no connection.
    void prefetch_restarts(std::uint64_t epoch) {
        llmp::lock_guard lock{prefetch_mu};
        prefetch_epoch = epoch;
        unsettled = 0;
    }

    bool serves(const std::string& model) {
        auto name = normalize_model_name(model);
        llmp::lock_guard lock{mu};
        return std::find(models.begin(), models.end(), name) != models.end();
    }

    void send_heartbeat(bool leaving) {
        llmp::lock_guard lock{mu};
        worker_heartbeat hb;
        hb.worker_id = id;
        hb.host = host_name();
        hb.provider = std::string{provider_->name()};
        for (const auto& m : models) {
            if (std::find(consumed.begin(), consumed.end(), m) != consumed.end()) {
                hb.models.push_back(m);
            }
        }
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
        auto m = co_await provider_->models();
        if (!m) {
            worker::logger()->warn("msg=\"cannot list models\" provider={} error=\"{}\"", provider_->name(),
                                   m.error().message);
            co_return;
        }
        bool changed = false;
        {
            llmp::lock_guard lock{mu};
            changed = models != m.value();
            if (changed) {
                worker::logger()->info("msg=\"models\" provider={} count={}", provider_->name(), m.value().size());
                for (const auto& name : m.value()) {
                    gen_metrics.for_model(name);  // every served model shows, at 0, from the start
                }
            }
            models = std::move(m.value());
        }
        if (changed && consumer) {
            consumer->run_with_connection([this](broker::connection& c) { return follow_models(c); });
        }
    }

    /// Consumer thread: starts consuming the queues of models the provider now serves and
    /// cancels the consumers of those it no longer serves (their generations in flight finish
    /// and are acked on this channel). Also part of the setup of each new connection. A worker
    /// that is stopping serves nothing: it cancels every consumer, so requests wait in their
    /// queues for other workers instead of bouncing off this one until it exits.
    result<void> follow_models(broker::connection& c) {
        std::vector<std::string> served;
        if (!stopping) {
            llmp::lock_guard lock{mu};
            served = models;
        } else if (!unrouted_tag.empty()) {
            if (auto r = c.cancel(unrouted_tag); !r) {
                return r;
            }
            unrouted_tag.clear();
        }
        auto plan = subscriptions.plan_for(served);
        for (const auto& model : plan.stop) {
            if (auto r = c.cancel(*subscriptions.tag_of(model)); !r) {
                return r;
            }
            subscriptions.stopped(model);
            worker::logger()->info("msg=\"stopped consuming a model's queue\" model={}", model);
        }
        for (const auto& model : plan.start) {
            if (auto r = broker::declare_model_queue(c, topo, cfg.broker, model); !r) {
                return r;
            }
            auto tag = c.consume(topo.model_queue(model), /*no_ack=*/false);
            if (!tag) {
                return tag.error();
            }
            subscriptions.started(model, std::move(tag.value()));
            worker::logger()->info("msg=\"consuming a model's queue\" model={} queue={}", model,
                                   topo.model_queue(model));
        }
        {
            llmp::lock_guard lock{mu};
            consumed = subscriptions.models();
        }
        if (!plan.empty()) {
            net::post(ioc, [this] { send_heartbeat(false); });  // the API learns at once
        }
        return ok();
    }

    /// RabbitMQ 4.3 refuses basic.qos with global=true by default (the deprecated feature
    /// global_qos), closing the connection that asks. So the first setup asks on a throwaway
    /// connection; refused, each model queue's consumer gets the whole budget instead (more
    /// deliveries may then wait here than --concurrency), with a warning saying how to restore it.
    bool shared_prefetch_permitted() {
        if (!shared_prefetch) {
            auto probe = broker::connection::open(cfg.broker, "llmproxy worker " + id + " qos probe");
            if (!probe) {
                return true;  // cannot tell now; the real connection fails alike and setup reruns
            }
            shared_prefetch = static_cast<bool>(probe.value()->set_prefetch(1, /*shared=*/true));
            if (!*shared_prefetch) {
                worker::logger()->warn(
                    "msg=\"the broker refuses one prefetch budget per channel (RabbitMQ 4.3+: deprecated "
                    "feature global_qos); each model queue gets --concurrency deliveries\" "
                    "hint=\"set deprecated_features.permit.global_qos = true in rabbitmq.conf to bound "
                    "them together\"");
            }
        }
        return *shared_prefetch;
    }

    net::awaitable<void> heartbeat_loop() {
        net::steady_timer t{ioc};
        while (!stopping) {
            send_heartbeat(false);
            t.expires_after(cfg.heartbeat_interval);
            boost::system::error_code ec;
            co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
    }

    /// The provider's models are re-read every heartbeat period, in a loop of their own so that a
    /// slow upstream never delays a heartbeat: a model pulled into (or removed from) the upstream
    /// is consumed (or dropped) within about one period.
    net::awaitable<void> refresh_loop() {
        net::steady_timer t{ioc};
        while (!stopping) {
            t.expires_after(cfg.heartbeat_interval);
            boost::system::error_code ec;
            co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
            if (!stopping) {
                co_await refresh_models();
            }
        }
    }

    /// The consumer connection `epoch` is lost: its deliveries went back to the queue (another
    /// worker, or this one after reconnecting, redoes them). Every task running here stops, and
    /// none of that connection starts any more (task_table).
    void connection_lost(std::uint64_t epoch, std::string_view why) {
        for (auto& t : table.lose_connection(epoch)) {
            t->abandon(why);
        }
    }

    /// A mandatory message came back: the API server that owned its stream (or, for multiplexed
    /// chunks, every stream of the message) is gone. Stop generating for it. Publisher thread.
    void on_returned(broker::returned_message&& r) {
        if (broker::is_background_key(r.routing_key)) {
            // A background generation runs whether or not anyone listens (only its audit
            // binding could be missing): an unroutable chunk of it is no reason to stop.
            return;
        }
        const std::string why = "response returned: " + r.reply_text;
        if (r.props.content_type != chunk_frames_content_type) {
            cancel(r.props.correlation_id, why);
            return;
        }
        std::vector<chunk_frame_view> frames;
        if (auto d = decode_chunk_frames(r.body, frames); !d) {
            worker::logger()->error("msg=\"cannot read a returned chunks message\" error=\"{}\"", d.error().message);
            return;
        }
        std::string_view last;
        for (const auto& f : frames) {
            if (f.request_id != last) {  // a stream's frames are usually one; cancelling twice is harmless
                cancel(std::string{f.request_id}, why);
                last = f.request_id;
            }
        }
    }

    void cancel(const std::string& request_id, std::string_view why) {
        for (auto& t : table.cancel(request_id)) {
            t->cancel(why);
        }
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

const metrics::registry& worker_service::metrics_registry() const {
    return impl_->registry;
}

result<void> worker_service::start() {
    auto& s = *impl_;
    auto log = worker::logger();
    // As many idle upstream connections kept as generations can run at once: with fewer, a
    // worker at its concurrency closes a connection at the end of most generations and opens a
    // new one for the next, and under load those connects wait on the upstream's accept (2
    // workers x 1,000 slots against the fake Ollama: a fifth of the first tokens took 10-25 s,
    // bench/RESULTS.md). Pooled upstreams copy these settings.
    auto provider_cfg = s.cfg.provider;
    for (int* idle : {&provider_cfg.ollama.max_idle_connections, &provider_cfg.openai.max_idle_connections}) {
        *idle = std::max(*idle, s.cfg.concurrency);
    }
    auto p = providers::make_provider(provider_cfg, s.ioc.get_executor());
    if (!p) {
        return p.error();
    }
    s.provider_ = std::move(p.value());

    // init() and the first model list run before serving, on this thread.
    std::optional<error> init_error;
    net::co_spawn(
        s.ioc,
        [&s, &init_error]() -> net::awaitable<void> {
            auto r = co_await s.provider_->init();
            if (r) {
                co_await s.refresh_models();
            } else {
                init_error = r.error();
            }
        },
        net::detached);
    s.ioc.run();
    s.ioc.restart();
    if (init_error) {
        // The upstream may come up later: serve anyway, announcing models once it answers.
        log->warn("msg=\"provider not ready; will keep retrying\" provider={} error=\"{}\"", s.provider_->name(),
                  init_error->message);
    }

    const auto& topo = s.topo;
    const auto& bcfg = s.cfg.broker;
    s.publisher = std::make_unique<broker::publisher>(
        bcfg, "llmproxy worker " + s.id + " publisher",
        [&topo, &bcfg](broker::connection& c) { return broker::declare_core(c, topo, bcfg); },
        [this](broker::returned_message&& r) { impl_->on_returned(std::move(r)); });
    s.publisher->set_chunk_multiplexing(s.cfg.chunk_flush_interval, chunk_message_max_bytes);
    if (auto r = s.publisher->start(); !r) {
        return r;
    }

    auto setup = [this, &topo, &bcfg](broker::connection& c) -> result<void> {
        auto& s = *impl_;
        if (auto r = broker::declare_core(c, topo, bcfg); !r) {
            return r;
        }
        // One budget across every queue this channel consumes (RabbitMQ's global prefetch):
        // --concurrency generations at once, whichever models they are for; raised while
        // answers await their confirms (unsettled_changed).
        // Quorum queues refuse a consumer on a channel with a global prefetch (topology.hpp).
        const bool shared = bcfg.queue_type != "quorum" && s.shared_prefetch_permitted();
        if (auto r = c.set_prefetch(static_cast<std::uint16_t>(std::clamp(s.cfg.concurrency, 1, 65535)), shared); !r) {
            return r;
        }
        {
            llmp::lock_guard lock{s.prefetch_mu};
            s.prefetch_follows = shared;
        }
        s.unrouted_tag.clear();
        s.subscriptions.clear();  // a new connection has no consumers yet
        if (!s.stopping) {
            auto unrouted = c.consume(topo.work_queue, /*no_ack=*/false);
            if (!unrouted) {
                return unrouted.error();
            }
            s.unrouted_tag = std::move(unrouted.value());
        }
        if (auto r = s.follow_models(c); !r) {
            return r;
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
        // Beside the work budget, not under it: a worker running --concurrency generations
        // must still hear their cancels (and those of requests still queued for it).
        if (auto r = c.consume_unlimited(control.value()); !r) {
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
        // Which queue it came from: a model's, or work_queue. A delivery of a consumer cancelled
        // meanwhile (the model was lost) goes back for another worker.
        const std::string* model = s.subscriptions.model_of(d.consumer_tag);
        if (s.stopping || (model == nullptr && d.consumer_tag != s.unrouted_tag)) {
            s.consumer->reject(epoch, d.delivery_tag, true);  // hand it to another worker
            return;
        }
        auto req = decode_request(d.body);
        if (!req) {
            worker::logger()->error("msg=\"malformed request dead-lettered\" error=\"{}\"", req.error().message);
            s.consumer->reject(epoch, d.delivery_tag, false);
            return;
        }
        if (model != nullptr && !s.serves(req.value().model)) {
            // The provider dropped the model and the cancel of this queue's consumer is queued
            // behind this delivery: another worker (or a later one) serves it.
            s.consumer->reject(epoch, d.delivery_tag, true);
            return;
        }
        accept(std::move(d), std::move(req.value()), epoch,
               model != nullptr ? s.topo.model_queue(*model) : s.topo.work_queue);
    };
    auto on_state = [this](bool connected) {
        impl_->prefetch_restarts(connected ? impl_->consumer->epoch() : 0);
        if (!connected) {
            // Consumer thread: its consumers went with the connection; setup starts them again.
            impl_->subscriptions.clear();
            {
                llmp::lock_guard lock{impl_->mu};
                impl_->consumed.clear();
            }
            // The deliveries of this connection go back to the queue (another worker, or this
            // one after reconnecting, will redo them): stop generating them here, and start
            // none of those still waiting for a slot.
            impl_->connection_lost(impl_->consumer->epoch(),
                                   "lost the broker connection; the request will be redelivered");
            (void)impl_->take_ready();
        }
    };
    s.start_task = [this](std::shared_ptr<generation_task> task) {
        net::post(impl_->ioc, [this, task = std::move(task)] { dispatch(task); });
    };
    s.consumer =
        std::make_unique<broker::consumer>(bcfg, "llmproxy worker " + s.id + " consumer", setup, on_delivery, on_state);
    s.prefetch_restarts(s.consumer->epoch());  // the first connection's, before any delivery
    if (auto r = s.consumer->start(); !r) {
        return r;
    }
    net::co_spawn(s.ioc, s.heartbeat_loop(), net::detached);
    net::co_spawn(s.ioc, s.refresh_loop(), net::detached);
    log->info("msg=\"worker started\" worker_id={} provider={} concurrency={} io_threads={}", s.id, s.provider_->name(),
              s.cfg.concurrency, s.cfg.io_threads);
    return ok();
}

namespace {

constexpr std::string_view deliveries_header = "x-llmp-deliveries";

/// Which delivery of its request `d` is: the count carried in x-llmp-deliveries (1 when absent:
/// the API's original), plus one if the broker redelivered this copy (someone held it before).
std::int64_t delivery_attempt(const broker::delivery& d) {
    auto counted = std::max<std::int64_t>(1, broker::field_int(d.props.headers, deliveries_header, 1));
    return counted + (d.redelivered ? 1 : 0);
}

void set_header(broker::field_table& headers, std::string_view key, broker::field_value v) {
    for (auto& [k, value] : headers) {
        if (k == key) {
            value = std::move(v);
            return;
        }
    }
    headers.emplace_back(std::string{key}, std::move(v));
}

/// The request's remaining time to live, as an AMQP expiration: a copy must not outlive it.
/// Empty when it has no deadline (the original's TTL, if any, is kept).
std::optional<std::string> remaining_ttl(const request_message& req) {
    if (req.deadline_ms == 0) {
        return std::nullopt;
    }
    return std::to_string(std::max<std::int64_t>(1, req.deadline_ms - unix_ms()));
}

}  // namespace

void worker_service::accept(broker::delivery&& d, request_message&& req, std::uint64_t epoch,
                            const std::string& queue) {
    auto& s = *impl_;
    const auto attempt = delivery_attempt(d);
    const bool expired = req.deadline_ms != 0 && unix_ms() > req.deadline_ms;
    // A redelivery means whoever held the request before did not answer it: it crashed (or
    // lost its connection, or stopped). The `redelivered` flag cannot count past one, so the
    // count is made durable in a fresh copy before the request runs again. An expired request
    // runs at once: it ends as `timeout` without reaching the provider, so it cannot crash us.
    if (d.redelivered && !expired) {
        if (attempt > s.cfg.max_deliveries) {
            dead_letter(std::move(d), req, epoch, attempt, queue);
        } else {
            put_back_counted(std::move(d), std::move(req), epoch, attempt, queue);
        }
        return;
    }
    {
        llmp::lock_guard lock{s.put_back_mu};
        if (auto it = s.putting_back.find(req.request_id); it != s.putting_back.end()) {
            it->second.push_back({std::move(req), epoch, d.delivery_tag, attempt});
            return;
        }
    }
    run_task(std::move(req), epoch, d.delivery_tag, attempt);
}

void worker_service::release_parked(const std::string& request_id) {
    auto& s = *impl_;
    std::vector<impl::parked_copy> copies;
    {
        llmp::lock_guard lock{s.put_back_mu};
        if (auto it = s.putting_back.find(request_id); it != s.putting_back.end()) {
            copies = std::move(it->second);
            s.putting_back.erase(it);
        }
    }
    for (auto& c : copies) {
        run_task(std::move(c.req), c.epoch, c.tag, c.attempt);
    }
}

void worker_service::run_task(request_message&& req, std::uint64_t epoch, std::uint64_t tag, std::int64_t attempt) {
    auto& s = *impl_;
    ++s.in_flight;
    ++s.requests_total;
    auto task = std::make_shared<generation_task>(s, std::move(req), task_origin{epoch, tag, attempt});
    if (s.take_slot(task)) {
        s.start_task(std::move(task));
    }
}

void worker_service::put_back_counted(broker::delivery&& d, request_message&& req, std::uint64_t epoch,
                                      std::int64_t attempt, const std::string& queue) {
    auto& s = *impl_;
    worker::logger()->warn(
        "msg=\"redelivered request put back with its delivery count\" request_id={} deliveries={} "
        "max_deliveries={}",
        req.request_id, attempt, s.cfg.max_deliveries);
    broker::publish_job job;
    // The default exchange: straight back to the queue it came from (not through the requests
    // fanout, which would store the request in the audit a second time). Same priority, message
    // id, persistence; the remaining TTL.
    job.msg.exchange = "";
    job.msg.routing_key = queue;
    job.msg.props = d.props;
    job.msg.props.persistent = true;
    if (auto ttl = remaining_ttl(req)) {
        job.msg.props.expiration = *ttl;
    }
    set_header(job.msg.props.headers, deliveries_header, attempt);
    job.msg.body = std::move(d.body);
    const auto tag = d.delivery_tag;
    // If the copy cannot be placed (full queue, broker trouble), run the request here rather
    // than bounce it: this delivery is counted, only the next crash would go uncounted.
    auto fallback = std::make_shared<request_message>(std::move(req));
    const std::string id = fallback->request_id;
    {
        llmp::lock_guard lock{s.put_back_mu};
        s.putting_back.try_emplace(id);
    }
    job.done = [this, epoch, tag, attempt, fallback, id](broker::publish_status st) {
        auto& s = *impl_;
        if (st == broker::publish_status::confirmed) {
            s.gen_metrics.redeliveries_counted().inc();
            s.consumer->ack(epoch, tag);
            s.consumer->after_pending([this, id] { release_parked(id); });
            return;
        }
        worker::logger()->warn("msg=\"could not put the redelivered request back; running it here\" request_id={}", id);
        release_parked(id);
        run_task(std::move(*fallback), epoch, tag, attempt);
    };
    if (!s.publisher->try_publish(std::move(job))) {
        worker::logger()->warn("msg=\"publish queue full; running the redelivered request here\" request_id={}", id);
        release_parked(id);
        run_task(std::move(*fallback), epoch, tag, attempt);
    }
}

void worker_service::dead_letter(broker::delivery&& d, const request_message& req, std::uint64_t epoch,
                                 std::int64_t attempt, const std::string& queue) {
    auto& s = *impl_;
    const std::string reason = "delivered " + std::to_string(attempt) + " times (limit " +
                               std::to_string(s.cfg.max_deliveries) +
                               "): every worker holding it stopped before answering (crashed?)";
    worker::logger()->error("msg=\"poison request dead-lettered\" request_id={} model={} deliveries={} reason=\"{}\"",
                            req.request_id, req.model, attempt, reason);
    s.gen_metrics.dead_lettered().inc();

    // The client is told at once (else it would wait for its deadline).
    error_message m{"poison_request",
                    "this request was given to " + std::to_string(attempt - 1) +
                        " workers and each stopped while holding it (a crash); it was set aside in the "
                        "dead-letter queue and will not be retried",
                    false, s.id};
    m.completed_at_ms = unix_ms();
    m.provider = std::string{s.provider_->name()};
    m.model = req.model;
    copy_request_fields(req, m);
    broker::publish_job err;
    err.msg.exchange = s.topo.responses_exchange;
    err.msg.routing_key = broker::error_key(req.server_id);
    err.msg.mandatory = true;
    err.msg.props.persistent = true;  // the audit stores it
    err.msg.props.content_type = "application/json";
    err.msg.props.correlation_id = req.request_id;
    err.msg.props.message_id = req.request_id;
    err.msg.props.headers = {{"seq", std::int64_t{0}}, {"worker", s.id}};
    err.msg.body = encode(m);
    if (!s.publisher->try_publish(std::move(err))) {
        worker::logger()->warn(
            "msg=\"publish queue full; the client of a dead-lettered request is not told\" "
            "request_id={}",
            req.request_id);
    }

    // The copy in <p>.dead carries the reason; the original is acked once it is confirmed. If it
    // cannot be placed, rejecting the original dead-letters it through the queue's DLX (with
    // x-death, without our reason): either way it is never delivered again.
    broker::publish_job dead;
    dead.msg.exchange = s.topo.dead_exchange;
    dead.msg.routing_key = queue;
    dead.msg.props = d.props;
    dead.msg.props.persistent = true;
    dead.msg.props.expiration.clear();  // kept for inspection, not dropped by the request's TTL
    set_header(dead.msg.props.headers, deliveries_header, attempt);
    set_header(dead.msg.props.headers, "x-reason", reason);
    dead.msg.body = std::move(d.body);
    const auto tag = d.delivery_tag;
    dead.done = [this, epoch, tag](broker::publish_status st) {
        if (st == broker::publish_status::confirmed) {
            impl_->consumer->ack(epoch, tag);
        } else {
            impl_->consumer->reject(epoch, tag, false);
        }
    };
    if (!s.publisher->try_publish(std::move(dead))) {
        s.consumer->reject(epoch, tag, false);
    }
}

void worker_service::dispatch(const std::shared_ptr<generation_task>& task) {
    auto& s = *impl_;
    const auto admitted = s.table.admit(task);
    if (admitted == task_table::admission::lost) {
        // Its delivery went back to the queue with its connection (connection_lost): it ends
        // here without an answer, as the generations that connection's loss stopped did.
        worker::logger()->info(
            "msg=\"not starting a request of a lost connection; it will be redelivered\" "
            "request_id={}",
            task->request_id());
        task->abandon("its delivery went back to the queue with the lost broker connection");
        task->fail({"cancelled", "its delivery went back to the queue", false});
        return;
    }
    const auto& req = task->request();
    const bool served = s.serves(req.model);
    // Only served models become label values: a client cannot grow the label set.
    task->set_metrics(&s.gen_metrics.for_model(served ? normalize_model_name(req.model) : "unserved"));
    if (admitted == task_table::admission::cancelled) {
        // Its client hung up (or a background response was cancelled) while it waited in the
        // queue: the upstream is never called.
        task->fail({"cancelled", "cancelled before a worker started it", false});
        return;
    }
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
        // Requests still waiting for a slot here go back for another worker now, not after
        // this one's generations.
        for (auto& t : s.take_ready()) {
            s.consumer->reject(t->origin().epoch, t->origin().delivery_tag, true);
        }
        s.consumer->run_with_connection([&s](broker::connection& c) { return s.follow_models(c); });
        auto deadline = steady::now() + s.cfg.drain_timeout;
        net::co_spawn(
            s.ioc,
            [&s, deadline]() -> net::awaitable<void> {
                net::steady_timer t{s.ioc};
                while (s.in_flight.load() > 0 && steady::now() < deadline) {
                    t.expires_after(std::chrono::milliseconds{20});
                    co_await t.async_wait(net::use_awaitable);
                }
                s.send_heartbeat(true);
                s.ioc.stop();
            },
            net::detached);
    });
    // Last resort: generation_task and the providers catch what their handlers throw; anything
    // else escaping a handler is logged and the thread goes back to serving, instead of
    // std::terminate taking every generation of this worker down with it.
    auto serve = [&s, log] {
        for (;;) {
            try {
                s.ioc.run();
                return;
            } catch (const std::exception& e) {
                log->error("msg=\"handler threw; io thread continues\" error=\"{}\"", e.what());
            }
        }
    };
    std::vector<std::thread> extra;
    for (int i = 1; i < s.cfg.io_threads; ++i) {
        extra.emplace_back(serve);
    }
    serve();
    for (auto& t : extra) {
        t.join();
    }
    // The publisher first: its last confirms queue acks, which the consumer carries out as it
    // stops. Unacked deliveries (past the drain deadline) go back to the queue when it closes.
    s.publisher->stop();
    s.consumer->stop();
    log->info("msg=\"worker stopped\" requests={} tokens={}", s.requests_total.load(), s.tokens_total.load());
    return 0;
}

}  // namespace llmp::worker

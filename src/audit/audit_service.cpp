#include "audit/audit_service.hpp"

#include "audit/audit_metrics.hpp"
#include "audit/backlog_sampler.hpp"
#include "audit/retention.hpp"
#include "audit/intake.hpp"
#include "audit/logger.hpp"
#include "audit/record.hpp"
#include "broker/connection.hpp"
#include "broker/consumer.hpp"
#include "broker/publisher.hpp"
#include "broker/topology.hpp"
#include "common/clock.hpp"
#include "metrics/process_collector.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>

namespace llmp::audit {

namespace {
/// Multiplexed chunks (`<server-id>.chunks`), and one stream's chunks from workers running
/// --multiplex-chunks=false (`<server-id>.chunk`).
constexpr std::string_view chunk_bindings[] = {"*.chunks", "*.chunk"};
constexpr auto dead_letter_confirm_timeout = std::chrono::seconds{5};
}  // namespace

struct audit_service::impl {
    explicit impl(audit_config c) : cfg{std::move(c)}, topo{cfg.broker.prefix}, counted{registry} {
        metrics::add_build_info(registry);
        metrics::add_process_metrics(registry);
    }

    audit_config cfg;
    broker::topology topo;
    metrics::registry registry;
    audit_metrics counted;
    intake in;
    std::unique_ptr<pg_writer> writer;
    std::unique_ptr<broker::publisher> publisher;
    std::unique_ptr<broker::consumer> consumer;
    /// steady_clock ns since the consumer's connection is up; 0 while it is down.
    std::atomic<std::int64_t> consuming_since_ns{0};
    std::unique_ptr<backlog_sampler> backlog;
    std::unique_ptr<retention_job> retention;
    // Consumer tags of the current connection: written by setup, read by on_delivery, both on
    // the consumer thread (the first setup runs in start() before that thread exists).
    std::string requests_tag;
    std::string responses_tag;

    result<void> setup(broker::connection& c) {
        if (auto r = broker::declare_core(c, topo, cfg.broker); !r) {
            return r;
        }
        for (auto binding : chunk_bindings) {
            auto r = cfg.audit_chunks ? c.bind_queue(topo.audit_responses_queue, topo.responses_exchange, binding)
                                      : c.unbind_queue(topo.audit_responses_queue, topo.responses_exchange, binding);
            if (!r) {
                return r;
            }
        }
        if (auto q = c.set_prefetch(static_cast<std::uint16_t>(std::clamp(cfg.prefetch, 1, 65535))); !q) {
            return q;
        }
        auto req = c.consume(topo.audit_requests_queue, /*no_ack=*/false);
        if (!req) {
            return req.error();
        }
        auto resp = c.consume(topo.audit_responses_queue, /*no_ack=*/false);
        if (!resp) {
            return resp.error();
        }
        broker::queue_options own{.durable = false, .exclusive = true, .auto_delete = true, .arguments = {}};
        auto hbq = c.declare_queue("", own);
        if (!hbq) {
            return hbq.error();
        }
        if (auto b = c.bind_queue(hbq.value(), topo.control_exchange, broker::heartbeat_key); !b) {
            return b;
        }
        if (auto h = c.consume(hbq.value(), /*no_ack=*/true); !h) {
            return h.error();
        }
        requests_tag = req.value();
        responses_tag = resp.value();
        return ok();
    }

    void on_delivery(broker::delivery&& d, std::uint64_t epoch) {
        auto arrival = unix_ms();
        source from = d.consumer_tag == requests_tag    ? source::requests
                      : d.consumer_tag == responses_tag ? source::responses
                                                        : source::heartbeats;
        auto rec = decode_record(from, d, arrival, decode_options{cfg.image_bytes});
        if (from == source::heartbeats) {
            if (rec) {
                in.push_heartbeat(std::get<worker_heartbeat>(std::move(rec.value())));
            } else {
                logger()->debug("msg=\"ignored malformed heartbeat\" error=\"{}\"", rec.error().message);
            }
            return;
        }
        ack_ref a{epoch, d.delivery_tag};
        if (d.redelivered) {
            counted.redeliveries.inc();
        }
        if (!rec) {
            in.push(dead_item{std::move(d), rec.error().message, a});
            return;
        }
        in.push(pending_row{std::move(rec.value()), a, std::move(d)});
    }

    bool dead_letter(const broker::delivery& d, const std::string& reason) {
        broker::publish_job job;
        job.msg.exchange = topo.dead_exchange;
        job.msg.routing_key = d.routing_key;
        job.msg.props = d.props;
        job.msg.props.persistent = true;
        job.msg.props.headers.emplace_back("x-reason", reason);
        job.msg.props.headers.emplace_back("x-original-exchange", d.exchange);
        job.msg.props.headers.emplace_back("x-original-routing-key", d.routing_key);
        job.msg.props.headers.emplace_back("x-dead-lettered-by", std::string{"llmproxy audit"});
        job.msg.body = d.body;
        auto done = std::make_shared<std::promise<bool>>();
        auto fut = done->get_future();
        job.done = [done](broker::publish_status s) { done->set_value(s == broker::publish_status::confirmed); };
        if (!publisher->try_publish(std::move(job))) {
            return false;
        }
        if (fut.wait_for(dead_letter_confirm_timeout) != std::future_status::ready) {
            return false;
        }
        return fut.get();
    }
};

audit_service::audit_service(audit_config cfg) : impl_{std::make_unique<impl>(std::move(cfg))} {
    auto& s = *impl_;
    writer_hooks hooks;
    hooks.ack_through = [&s](ack_ref a) { s.consumer->ack_multiple(a.epoch, a.tag); };
    hooks.ack_one = [&s](ack_ref a) { s.consumer->ack(a.epoch, a.tag); };
    hooks.reject_one = [&s](ack_ref a) { s.consumer->reject(a.epoch, a.tag, /*requeue=*/false); };
    hooks.dead_letter = [&s](const broker::delivery& d, const std::string& reason) { return s.dead_letter(d, reason); };
    hooks.metrics = &s.counted;
    hooks.consuming_for = [&s](std::chrono::milliseconds d) {
        auto since = s.consuming_since_ns.load();
        return since != 0 && std::chrono::steady_clock::now().time_since_epoch().count() - since >=
                                 std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    };
    s.writer = std::make_unique<pg_writer>(s.cfg, s.in, std::move(hooks));
    const auto& topo = s.topo;
    const auto& bcfg = s.cfg.broker;
    s.publisher = std::make_unique<broker::publisher>(
        bcfg, "llmproxy audit dead-letter publisher",
        [&topo, &bcfg](broker::connection& c) { return broker::declare_core(c, topo, bcfg); });
    s.backlog = std::make_unique<backlog_sampler>(
        bcfg,
        std::vector<backlog_sampler::queue>{{"requests", topo.audit_requests_queue},
                                            {"responses", topo.audit_responses_queue}},
        s.cfg.backlog_interval, s.cfg.backlog_alarm_messages, s.counted);
    s.retention =
        std::make_unique<retention_job>(s.cfg.database_url, s.cfg.connect_timeout_s,
                                        retention_settings{s.cfg.retention_days, s.cfg.rollup_retention_days},
                                        s.cfg.retention_interval, [w = s.writer.get()] { return w->behind(); });
    s.consumer = std::make_unique<broker::consumer>(
        bcfg, "llmproxy audit consumer", [&s](broker::connection& c) { return s.setup(c); },
        [&s](broker::delivery&& d, std::uint64_t epoch) { s.on_delivery(std::move(d), epoch); },
        [&s](bool connected) {
            s.consuming_since_ns = connected ? std::chrono::steady_clock::now().time_since_epoch().count() : 0;
            if (!connected) {
                auto n = s.in.drop_deliveries();
                logger()->info(
                    "msg=\"RabbitMQ connection lost; queued deliveries dropped, they will be "
                    "redelivered\" dropped={}",
                    n);
            }
        });
}

audit_service::~audit_service() {
    stop();
}

result<void> audit_service::start() {
    auto& s = *impl_;
    if (auto r = s.cfg.validate(); !r) {
        return r;
    }
    s.writer->start();
    if (auto r = s.publisher->start(); !r) {
        return r;
    }
    if (auto r = s.consumer->start(); !r) {
        return r;
    }
    s.consuming_since_ns = std::chrono::steady_clock::now().time_since_epoch().count();
    s.backlog->start();
    s.retention->start();
    logger()->info("msg=\"audit started\" prefix={} batch_rows={} batch_ms={} prefetch={} audit_chunks={}",
                   s.cfg.broker.prefix, s.cfg.batch_rows, s.cfg.batch_time.count(), s.cfg.prefetch, s.cfg.audit_chunks);
    return ok();
}

void audit_service::stop() {
    auto& s = *impl_;
    s.backlog->stop();
    s.retention->stop();
    s.writer->stop();
    s.consumer->stop();
    s.publisher->stop();
}

writer_stats audit_service::stats() const {
    return impl_->writer->stats();
}
void audit_service::reset_lag() {
    impl_->writer->reset_lag();
}
const metrics::registry& audit_service::metrics_registry() const {
    return impl_->registry;
}

}  // namespace llmp::audit

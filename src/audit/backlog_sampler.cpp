#include "audit/backlog_sampler.hpp"

#include "audit/audit_metrics.hpp"
#include "audit/logger.hpp"
#include "broker/connection.hpp"

#include <algorithm>

namespace llmp::audit {

backlog_sampler::backlog_sampler(broker::broker_config cfg, std::vector<queue> queues,
                                 std::chrono::milliseconds interval, std::int64_t alarm_messages,
                                 audit_metrics& metrics)
    : cfg_{std::move(cfg)},
      queues_{std::move(queues)},
      interval_{interval},
      alarm_messages_{alarm_messages},
      metrics_{metrics} {}

backlog_sampler::~backlog_sampler() {
    stop();
}

void backlog_sampler::start() {
    thread_ = std::thread{[this] { run(); }};
}

void backlog_sampler::stop() {
    {
        llmp::lock_guard lock{mu_};
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

std::int64_t backlog_sampler::sample(std::unique_ptr<broker::connection>& conn) {
    if (!conn) {
        auto c = broker::connection::open(cfg_, "llmproxy audit backlog sampler");
        if (!c) {
            return -1;
        }
        conn = std::move(c.value());
    }
    std::int64_t deepest = 0;
    for (const auto& q : queues_) {
        auto st = conn->inspect_queue(q.name);
        if (!st && st.error().code == "not_found") {
            continue;  // not declared yet: nothing waits in it
        }
        if (!st) {
            logger()->debug("msg=\"audit backlog not sampled\" error=\"{}\"", st.error().message);
            conn.reset();
            return -1;
        }
        auto n = static_cast<std::int64_t>(st.value().messages);
        metrics_.queue_messages.with({q.label}).set(static_cast<double>(n));
        deepest = std::max(deepest, n);
    }
    return deepest;
}

void backlog_sampler::run() {
    std::unique_ptr<broker::connection> conn;
    bool alarmed = false;
    while (true) {
        // A connection idle past its heartbeats is closed by the broker: one fresh try then.
        bool had_connection = conn != nullptr;
        auto deepest = sample(conn);
        if (deepest < 0 && had_connection) {
            deepest = sample(conn);
        }
        if (deepest >= 0) {
            bool alarm = alarm_messages_ > 0 && deepest >= alarm_messages_;
            if (alarm != alarmed) {
                if (alarm) {
                    logger()->warn(
                        "msg=\"audit backlog alarm: the audit queues are filling; publishers are refused "
                        "once they are full\" messages={} alarm_at={}",
                        deepest, alarm_messages_);
                } else {
                    logger()->info("msg=\"audit backlog back under the alarm\" messages={}", deepest);
                }
                alarmed = alarm;
            }
            metrics_.backlog_alarm.set(alarm ? 1 : 0);
        }
        llmp::unique_lock lock{mu_};
        if (cv_.wait_for(lock.native(), interval_, [this]() REQUIRES(mu_) { return stopping_; })) {
            return;
        }
    }
}

}  // namespace llmp::audit

#include "monitor/ingest_watch.hpp"

#include "monitor/db_pool.hpp"
#include "monitor/queue_sampler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>

namespace llmp::monitor {
namespace {

using nlohmann::json;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// The newest stored row times; both columns are indexed, so this is two index probes.
db_pool::job stored_mark_job() {
    return [](pg::connection& c) -> result<json> {
        auto r = c.query(
            "SELECT coalesce((SELECT max(received_at) FROM requests)::text, '-') || ' ' ||"
            " coalesce((SELECT max(completed_at) FROM responses)::text, '-')");
        if (!r) {
            return r.error();
        }
        const auto& v = r.value().rows.at(0).at(0);
        return json{{"mark", v.value_or("")}};
    };
}

/// The whole sample, built outside the coroutine (g++ 12 and nlohmann in coroutine bodies).
ingest_sample make_sample(const db_reply& r, const queue_sampler& queues, const ingest_watch_config& cfg) {
    ingest_sample s = queue_part(queues.latest(), cfg.audit_queues, cfg.dead_queue);
    s.t_ms = now_ms();
    if (r.ok) {
        s.stored_mark = r.body.value("mark", "");
    }
    return s;
}

}  // namespace

ingest_sample queue_part(const json& latest, const std::vector<std::string>& audit_queues,
                         const std::string& dead_queue) {
    ingest_sample s;
    if (!latest.value("available", false) || !latest.contains("queues") || !latest["queues"].is_array()) {
        return s;
    }
    std::int64_t backlog = 0, consumers = 0;
    for (const auto& q : latest["queues"]) {
        auto name = q.value("name", "");
        if (std::find(audit_queues.begin(), audit_queues.end(), name) != audit_queues.end()) {
            backlog += q.value("messages", std::int64_t{0});
            consumers += q.value("consumers", std::int64_t{0});
        } else if (name == dead_queue) {
            s.dead_letters = q.value("messages", std::int64_t{0});
        }
    }
    s.backlog = backlog;
    s.consumers = consumers;
    return s;
}

ingest_watch::ingest_watch(net::io_context& ioc, db_pool& db, const queue_sampler& queues, ingest_health& health,
                           ingest_watch_config cfg)
    : ioc_{ioc}, db_{db}, queues_{queues}, health_{health}, cfg_{std::move(cfg)} {}

ingest_watch::~ingest_watch() = default;

void ingest_watch::start() {
    timer_ = std::make_unique<net::steady_timer>(net::make_strand(ioc_));
    net::co_spawn(
        timer_->get_executor(), [this] { return loop(); }, net::detached);
}

void ingest_watch::stop() {
    if (!timer_) {
        return;
    }
    net::post(timer_->get_executor(), [this, stopped = stopped_] {
        *stopped = true;
        timer_->cancel();
    });
}

net::awaitable<void> ingest_watch::loop() {
    auto stopped = stopped_;
    while (!*stopped) {
        db_pool::job job = stored_mark_job();
        db_reply r = co_await db_.run(std::move(job));
        if (*stopped) {
            break;
        }
        health_.record(make_sample(r, queues_, cfg_));
        timer_->expires_after(cfg_.interval);
        boost::system::error_code ec;
        co_await timer_->async_wait(net::redirect_error(net::use_awaitable, ec));
    }
}

}  // namespace llmp::monitor

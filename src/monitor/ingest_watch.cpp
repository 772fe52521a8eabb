#include "monitor/ingest_watch.hpp"

#include "monitor/logger.hpp"
#include "monitor/queue_sampler.hpp"
#include "pg/connection.hpp"

#include <algorithm>
#include <memory>
#include <optional>

namespace llmp::monitor {
namespace {

using nlohmann::json;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// The newest stored row times; both columns are indexed, so this is two index probes.
result<std::string> stored_mark(pg::connection& c) {
    auto r = c.query(
        "SELECT coalesce((SELECT max(received_at) FROM requests)::text, '-') || ' ' ||"
        " coalesce((SELECT max(completed_at) FROM responses)::text, '-')");
    if (!r) {
        return r.error();
    }
    return r.value().rows.at(0).at(0).value_or("");
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

ingest_watch::ingest_watch(const queue_sampler& queues, ingest_health& health, ingest_watch_config cfg)
    : queues_{queues}, health_{health}, cfg_{std::move(cfg)} {}

ingest_watch::~ingest_watch() {
    stop();
}

void ingest_watch::start() {
    thread_ = std::thread{[this] { thread_main(); }};
}

void ingest_watch::stop() {
    {
        llmp::lock_guard lock{mu_};
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void ingest_watch::thread_main() {
    std::unique_ptr<pg::connection> conn;
    std::string last_error;  // logged once per change
    for (;;) {
        std::optional<std::string> mark;
        if (conn && !conn->healthy()) {
            conn.reset();
        }
        if (!conn) {
            auto opened = pg::connection::open(cfg_.database_url, 3, "llmproxy-monitor-ingest");
            if (opened) {
                conn = std::move(opened.value());
                if (auto t = conn->exec("SET statement_timeout = " + std::to_string(cfg_.statement_timeout.count()));
                    !t) {
                    conn.reset();
                }
            }
        }
        if (conn) {
            auto m = stored_mark(*conn);
            if (m) {
                mark = std::move(m.value());
                last_error.clear();
            } else if (m.error().message != last_error) {
                // The schema may not exist yet (the pool migrates on its first query).
                last_error = m.error().message;
                logger()->info("msg=\"ingest watch cannot read the stored rows\" error=\"{}\"", last_error);
            }
        }
        ingest_sample s = queue_part(queues_.latest(), cfg_.audit_queues, cfg_.dead_queue);
        s.t_ms = now_ms();
        s.stored_mark = std::move(mark);
        health_.record(std::move(s));
        llmp::unique_lock lock{mu_};
        if (cv_.wait_for(lock.native(), cfg_.interval, [&]() REQUIRES(mu_) { return stopping_; })) {
            return;
        }
    }
}

}  // namespace llmp::monitor

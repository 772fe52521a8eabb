#include "audit/retention.hpp"

#include "audit/logger.hpp"
#include "audit/partitions.hpp"
#include "audit/search_coverage.hpp"
#include "audit/search_index.hpp"
#include "pg/connection.hpp"

#include <algorithm>
#include <memory>

namespace llmp::audit {
namespace {

/// One table's rows older than a cutoff ($1, timestamptz), deleted batch by batch ($2 rows at
/// most each): the ctids are picked through the time index, then deleted by TID scan.
struct doomed {
    const char* table;
    const char* condition;  ///< over $1
    std::int64_t retention_pass::*count;
};

constexpr doomed request_tables[] = {
    {"response_chunks", "received_at < $1::timestamptz", &retention_pass::chunks},
    {"responses", "completed_at < $1::timestamptz", &retention_pass::responses},
    {"requests", "received_at < $1::timestamptz", &retention_pass::requests},
    {"pending_requests", "received_at < $1::timestamptz", &retention_pass::pending},
    {"search_backlog", "received_at < $1::timestamptz", &retention_pass::search_rows},
    {"request_search", "received_at < $1::timestamptz", &retention_pass::search_rows},
};
constexpr doomed rollup_tables[] = {
    {"response_rollups", "grain = 'minute' AND t < $1::timestamptz", &retention_pass::rollup_rows},
    {"request_rollups", "grain = 'minute' AND t < $1::timestamptz", &retention_pass::rollup_rows},
    {"response_series", "grain = 'minute' AND t < $1::timestamptz", &retention_pass::rollup_rows},
    {"error_rollups", "grain = 'minute' AND t < $1::timestamptz", &retention_pass::rollup_rows},
};

// pending_requests rows whose response is stored (left by a response stored before its request,
// pg migration 38, or by the two stored concurrently): a few rows, a probe each, in the
// request's day partition (and among the responses stored without the request's time).
// Every pass, whatever the retention.
constexpr std::string_view answered_pending_sql =
    "DELETE FROM pending_requests u WHERE EXISTS (SELECT 1 FROM responses r WHERE r.request_id = u.request_id"
    " AND r.request_received_at IN (u.received_at, '-infinity'))";

constexpr int partition_days_ahead = 3;

result<std::string> cutoff_of(pg::connection& c, int days) {
    auto r = c.query("SELECT now() - make_interval(days => $1::int)", {std::to_string(days)});
    if (!r) {
        return r.error();
    }
    return r.value().rows.at(0).at(0).value_or("");
}

result<void> delete_older_in(pg::connection& c, const std::string& table, const doomed& t, const std::string& cutoff,
                             int batch_rows, retention_pass& pass, const std::function<bool()>& keep_going) {
    const std::string sql = "DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + table + " WHERE " +
                            t.condition + " LIMIT $2::int))";
    while (keep_going()) {
        auto r = c.query(sql, {cutoff, std::to_string(batch_rows)});
        if (!r) {
            return r.error();
        }
        pass.*t.count += r.value().affected;
        if (r.value().affected < batch_rows) {
            break;
        }
    }
    return ok();
}

result<void> delete_older(pg::connection& c, const doomed& t, const std::string& cutoff, int batch_rows,
                          retention_pass& pass, const std::function<bool()>& keep_going) {
    // A partitioned table's rows go by partition: a ctid names a row of one partition only.
    // Its day partitions are dropped whole (audit/partitions.hpp); the legacy and DEFAULT
    // partitions are trimmed here.
    auto tables = trimmed_partitions(c, t.table);
    if (!tables) {
        return tables.error();
    }
    for (const auto& table : tables.value()) {
        if (auto r = delete_older_in(c, table, t, cutoff, batch_rows, pass, keep_going); !r) {
            return r;
        }
    }
    return ok();
}

}  // namespace

result<retention_pass> apply_retention(pg::connection& c, const retention_settings& s,
                                       const std::function<bool()>& keep_going) {
    auto rec = c.query(
        "INSERT INTO audit_retention (id, request_days, rollup_days, updated_at) VALUES (true, $1::int, $2::int, "
        "now()) "
        "ON CONFLICT (id) DO UPDATE SET request_days = EXCLUDED.request_days, rollup_days = EXCLUDED.rollup_days, "
        "updated_at = now()",
        {std::to_string(s.request_days), std::to_string(s.rollup_days)});
    if (!rec) {
        return rec.error();
    }
    retention_pass pass;
    auto answered = c.query(std::string{answered_pending_sql});
    if (!answered) {
        return answered.error();
    }
    pass.pending += answered.value().affected;
    // Tomorrow's partitions exist long before tomorrow, whatever the retention.
    if (auto made = create_day_partitions(c, "now", partition_days_ahead); !made) {
        return made.error();
    }
    const int batch = std::max(1, s.batch_rows);
    if (s.request_days > 0) {
        auto cutoff = cutoff_of(c, s.request_days);
        if (!cutoff) {
            return cutoff.error();
        }
        auto dropped = drop_expired_partitions(c, cutoff.value());
        if (!dropped) {
            return dropped.error();
        }
        pass.partitions += dropped.value().partitions;
        pass.requests += dropped.value().requests;
        pass.responses += dropped.value().responses;
        for (const auto& t : request_tables) {
            if (auto r = delete_older(c, t, cutoff.value(), batch, pass, keep_going); !r) {
                return r.error();
            }
        }
    }
    if (s.rollup_days > 0) {
        auto cutoff = cutoff_of(c, s.rollup_days);
        if (!cutoff) {
            return cutoff.error();
        }
        for (const auto& t : rollup_tables) {
            if (auto r = delete_older(c, t, cutoff.value(), batch, pass, keep_going); !r) {
                return r.error();
            }
        }
    }
    auto done = c.query("UPDATE audit_retention SET last_run_at = now(), last_deleted = $1::bigint",
                        {std::to_string(pass.total())});
    if (!done) {
        return done.error();
    }
    return pass;
}

retention_job::retention_job(std::string database_url, int connect_timeout_s, retention_settings s,
                             std::chrono::milliseconds interval, std::function<bool()> ingest_behind)
    : url_{std::move(database_url)},
      connect_timeout_s_{connect_timeout_s},
      settings_{s},
      interval_{interval},
      ingest_behind_{std::move(ingest_behind)} {}

retention_job::~retention_job() {
    stop();
}

void retention_job::start() {
    thread_ = std::thread{[this] { run(); }};
}

void retention_job::stop() {
    {
        llmp::lock_guard lock{mu_};
        stopping_ = true;
    }
    stop_flag_ = true;
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

bool retention_job::wait(std::chrono::milliseconds d) {
    llmp::unique_lock lock{mu_};
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping_) {
        if (cv_.wait_until(lock.native(), until) == std::cv_status::timeout) {
            break;
        }
    }
    return !stopping_;
}

void retention_job::run() {
    // Until the writer has applied the migrations (or while PostgreSQL is down) a pass fails:
    // the next try comes sooner than the next pass would.
    const auto retry = std::min(interval_, std::chrono::milliseconds{5000});
    const auto tick = std::min(interval_, std::max(settings_.search_index_interval, std::chrono::milliseconds{10}));
    std::unique_ptr<pg::connection> conn;
    auto keep_going = [this] { return !stop_flag_.load(); };
    auto connected = [&]() -> bool {
        if (conn && conn->healthy()) {
            return true;
        }
        auto c = pg::connection::open(url_, connect_timeout_s_, "llmproxy audit retention");
        if (!c) {
            logger()->debug("msg=\"retention: no database\" error=\"{}\"", c.error().message);
            conn.reset();
            return false;
        }
        conn = std::move(c.value());
        return true;
    };
    auto index_search = [&]() -> bool {
        auto t0 = std::chrono::steady_clock::now();
        auto pass = index_search_backlog(*conn, settings_.batch_rows, search_index_pace(keep_going, ingest_behind_));
        if (!pass) {
            // Before the writer's migrations the tables are not there yet: quietly, as a pass.
            if (pass.error().code != pg::schema_error) {
                logger()->warn("msg=\"search index failed\" error=\"{}\"", pass.error().message);
            }
            return false;
        }
        if (pass.value().dequeued > settings_.batch_rows) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
            logger()->info("msg=\"search index caught up\" requests={} ms={}", pass.value().indexed, ms.count());
        }
        return true;
    };
    auto one_pass = [&]() -> bool {
        auto t0 = std::chrono::steady_clock::now();
        auto pass = apply_retention(*conn, settings_, keep_going);
        if (!pass && pass.error().code == pg::schema_error) {
            // audit_retention is created by the writer's migrations, which may not have run yet.
            logger()->info("msg=\"retention waits for the schema\" error=\"{}\"", pass.error().message);
            return false;
        }
        if (!pass) {
            logger()->warn("msg=\"retention pass failed\" error=\"{}\"", pass.error().message);
            return false;
        }
        if (pass.value().total() > 0 || pass.value().partitions > 0) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
            logger()->info(
                "msg=\"retention pass\" requests={} responses={} chunks={} pending={} search_rows={} rollup_rows={} "
                "partitions_dropped={} request_days={} rollup_days={} ms={}",
                pass.value().requests, pass.value().responses, pass.value().chunks, pass.value().pending,
                pass.value().search_rows, pass.value().rollup_rows, pass.value().partitions, settings_.request_days,
                settings_.rollup_days, ms.count());
        }
        return true;
    };
    // After a retention pass: the closed days get their partition's search index (outside any
    // transaction: CREATE INDEX CONCURRENTLY), and leave request_search.
    auto cover_search = [&]() {
        auto t0 = std::chrono::steady_clock::now();
        auto pass = cover_closed_partitions(*conn, search_coverage_margin, settings_.batch_rows, keep_going);
        if (!pass) {
            if (pass.error().code != pg::schema_error) {
                logger()->warn("msg=\"search coverage failed\" error=\"{}\"", pass.error().message);
            }
            return;
        }
        if (pass.value().partitions > 0 || pass.value().search_rows > 0) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
            logger()->info("msg=\"search coverage pass\" partitions={} search_rows={} ms={}", pass.value().partitions,
                           pass.value().search_rows, ms.count());
        }
    };
    auto next_pass = std::chrono::steady_clock::now();
    for (;;) {
        bool fine = connected();
        if (fine && std::chrono::steady_clock::now() >= next_pass) {
            fine = one_pass();
            if (fine) {
                cover_search();
            }
            next_pass = std::chrono::steady_clock::now() + (fine ? interval_ : retry);
        }
        if (fine) {
            fine = index_search();
        }
        if (!wait(fine ? tick : retry)) {
            return;
        }
    }
}

}  // namespace llmp::audit

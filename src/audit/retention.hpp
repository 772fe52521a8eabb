#pragma once
// retention: deletes the audit history older than the operator's retention, in small batches,
// while the audit ingests (issue 19). requests and responses (and response_chunks) go after
// `request_days` (and pending_requests with them), the minute rows of the rollups, of
// response_series and of error_rollups after `rollup_days`; the hour rows of the rollups
// stay forever (a few thousand rows a day). 0 days = keep forever. Deleting never touches the
// rollups of the deleted rows: their triggers fire on INSERT and UPDATE only, so the dashboard's
// wide windows and the daily usage keep counting the requests whose texts are gone.
//
// requests and responses are partitioned by day (pg migration 29): every pass creates the next
// days' partitions and drops the expired ones whole (audit/partitions.hpp), so a day is kept
// until its last row is past the retention (N to N + 1 days). Their legacy and DEFAULT
// partitions, and the other tables, are trimmed by batches: each batch is one short
// transaction of its own (autocommit) that deletes at most batch_rows rows picked by time
// through the tables' time indexes: row locks on old rows only, never a table lock, so the
// audit writer's inserts never wait for it.
//
// Every pass also records the settings and what it did in audit_retention (pg migration 22),
// where the monitor reads them for the dashboard.
//
// The same thread keeps the text search's index (audit/search_index.hpp): every few seconds it
// moves what the ingest queued into request_search, between retention passes; one batch a tick
// while the writer is behind the queues.
//
// Threading: apply_retention runs on the caller's thread with the caller's connection.
// retention_job owns one thread with its own PostgreSQL connection; start() / stop() (joins,
// between two batches at the latest) by audit_service.

#include "common/mutex.hpp"
#include "common/result.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace llmp::pg {
class connection;
}

namespace llmp::audit {

struct retention_settings {
    int request_days = 0;  ///< requests, responses, response_chunks; 0 = forever
    int rollup_days = 0;   ///< minute rows of response_rollups and request_rollups; 0 = forever
    int batch_rows = 5000;
    /// How often the text search's backlog is indexed (at most the retention's interval).
    std::chrono::milliseconds search_index_interval{2000};
};

/// Rows one pass deleted, per table.
struct retention_pass {
    std::int64_t requests = 0;
    std::int64_t responses = 0;
    std::int64_t chunks = 0;
    std::int64_t pending = 0;      ///< pending_requests rows: past the retention, or answered
    std::int64_t search_rows = 0;  ///< request_search and search_backlog rows past the retention
    std::int64_t rollup_rows = 0;
    int partitions = 0;  ///< day partitions dropped (their rows counted above, as estimated)
    std::int64_t total() const { return requests + responses + chunks + pending + search_rows + rollup_rows; }
};

/// One pass: records the settings in audit_retention, deletes every row past them in batches
/// (asking `keep_going` before each batch; false = stop where it is), then records the pass.
result<retention_pass> apply_retention(pg::connection& c, const retention_settings& s,
                                       const std::function<bool()>& keep_going);

class retention_job {
public:
    /// `ingest_behind` (optional, asked on this job's thread): true while the audit writer is
    /// behind the queues; the search indexer then takes one batch per tick (search_index_pace).
    retention_job(std::string database_url, int connect_timeout_s, retention_settings s,
                  std::chrono::milliseconds interval, std::function<bool()> ingest_behind = {});
    ~retention_job();
    retention_job(const retention_job&) = delete;
    retention_job& operator=(const retention_job&) = delete;

    void start();
    void stop();

private:
    void run();
    /// Waits `d` or until stop(); false when stopping.
    bool wait(std::chrono::milliseconds d);

    std::string url_;
    int connect_timeout_s_;
    retention_settings settings_;
    std::chrono::milliseconds interval_;
    std::function<bool()> ingest_behind_;
    llmp::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ GUARDED_BY(mu_) = false;
    std::atomic<bool> stop_flag_{false};
    std::thread thread_;
};

}  // namespace llmp::audit

#pragma once
// pg_writer: the thread that owns the audit service's PostgreSQL connection. It takes decoded
// rows from the intake in delivery order, groups them with a batcher (N rows or T ms), and
// writes each batch in ONE transaction: COPY straight into the tables, plus the workers
// upsert. If PostgreSQL refuses that COPY because of the data (usually a request id already
// stored: a redelivery), the batch is written again through temp staging tables with INSERT ...
// SELECT ... ON CONFLICT DO NOTHING, so a redelivered message never makes a second row. Only
// after COMMIT does it ack the batch's deliveries: one ack(multiple) per consumer epoch.
//
// Failure handling:
//  - PostgreSQL unreachable/restarting/out of resources ("db_unavailable"), or not set up for
//    the statements ("db_schema_error": a table, column or privilege missing): the batch is
//    kept, the connection dropped, and the writer reconnects with backoff, logging once per
//    state change. Nothing is dead-lettered for it. It takes nothing more from the intake
//    meanwhile, so the consumer's prefetch fills and the rest waits in the audit queues.
//  - Any other refusal (data errors, SQLSTATE 22/23, after the staged retry; program limits
//    such as 54001 for a jsonb nested too deep; timeouts): a batch refused twice is bisected.
//    The good rows are stored; a row refused alone (twice, unless a data error) is
//    dead-lettered with "refused by PostgreSQL: PostgreSQL <SQLSTATE>: <message>" as reason.
//  - Malformed deliveries (dead_item) are dead-lettered as they come, in order, before any
//    later ack(multiple) could cover them.
// Migrations run on every (re)connect, so a database created after start is set up too.
//
// Lifecycle: constructed and started by audit_service; stop() closes the intake, writes what
// is held (up to the drain deadline) and joins. The hooks are called on the writer thread.

#include "audit/batcher.hpp"
#include "audit/config.hpp"
#include "audit/intake.hpp"
#include "audit/lag_histogram.hpp"
#include "common/mutex.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_set>

namespace llmp::pg {
class connection;
}

namespace llmp::audit {

struct audit_metrics;

struct writer_hooks {
    /// Ack every delivery of `a.epoch` up to `a.tag` (basic.ack multiple).
    std::function<void(ack_ref a)> ack_through;
    std::function<void(ack_ref a)> ack_one;
    /// basic.reject requeue=false: the queue's dead-letter exchange takes it (reason: rejected).
    std::function<void(ack_ref a)> reject_one;
    /// Publishes the message to the dead-letter exchange with an x-reason header; true once
    /// the broker confirmed it. Empty or false = fall back to reject_one.
    std::function<bool(const broker::delivery& d, const std::string& reason)> dead_letter;
    /// True once the consumer has been connected for at least `d` without a break. The writer
    /// judges API servers lost only then: their confirmations may wait in the queue while it is
    /// not consuming. Empty = always.
    std::function<bool(std::chrono::milliseconds d)> consuming_for;
    /// Counted into when set (the audit service's Prometheus metrics).
    audit_metrics* metrics = nullptr;
};

struct writer_stats {
    std::uint64_t rows = 0;  ///< rows written (inserted or found already there)
    std::uint64_t requests = 0;
    std::uint64_t responses = 0;
    std::uint64_t chunks = 0;
    std::uint64_t heartbeats = 0;
    std::uint64_t batches = 0;
    std::uint64_t staged_batches = 0;  ///< batches written again through the staging tables
    std::uint64_t dead_lettered = 0;
    std::uint64_t db_failures = 0;
    double write_ms = 0;           ///< time spent in PostgreSQL round trips (BEGIN..COMMIT), total
    double copy_ms = 0;            ///< of which COPY (into the tables, or the staging tables)
    double insert_ms = 0;          ///< of which INSERT ... SELECT ... ON CONFLICT from staging
    double commit_ms = 0;          ///< of which COMMIT
    std::int64_t lag_p50_ms = -1;  ///< event time -> COMMIT, over every row so far
    std::int64_t lag_p99_ms = -1;
    std::int64_t lag_max_ms = -1;
    bool db_up = false;
};

class pg_writer {
public:
    pg_writer(const audit_config& cfg, intake& in, writer_hooks hooks);
    ~pg_writer();
    pg_writer(const pg_writer&) = delete;
    pg_writer& operator=(const pg_writer&) = delete;

    void start();
    /// Closes the intake, writes what it holds until done or cfg.drain_timeout, joins.
    void stop();

    writer_stats stats() const;
    /// True while the writer is behind the queues: its last batch was full or more rows were
    /// waiting when it took it. The audit's background work (the search indexer) yields to it.
    bool behind() const { return behind_.load(std::memory_order_relaxed); }
    /// Forgets the lag samples so far (the benchmark measures phases separately).
    void reset_lag();

private:
    enum class db_state { unknown, up, down };
    enum class write_path { direct, staged };

    void run();
    void settle_dead(dead_item& d);
    /// Writes `b` until it is committed; false if the writer gave up (stopping past deadline).
    bool write_until_done(batch& b);
    result<void> ensure_connected();
    result<void> write_once(const std::vector<pending_row*>& rows, const std::vector<worker_heartbeat>& workers,
                            write_path path);
    /// Staged write of `rows` (and `workers`), holding through outages (reconnect, backoff);
    /// nullopt if the writer gave up (stopping past its deadline), else stored or refused.
    std::optional<result<void>> write_holding(std::span<pending_row* const> rows,
                                              const std::vector<worker_heartbeat>& workers);
    /// A batch refused twice: bisect it, store the good rows, dead-letter the refused ones.
    bool isolate_refused_rows(batch& b, const error& why);
    bool bisect(std::span<pending_row* const> rows, const error& why, std::map<std::uint64_t, std::uint64_t>& ack_to);
    bool settle_refused_row(pending_row& row, const error& why, std::map<std::uint64_t, std::uint64_t>& ack_to);
    void stored(std::span<pending_row* const> rows, std::map<std::uint64_t, std::uint64_t>& ack_to);
    void count_failure();
    void committed(const std::vector<pending_row*>& rows, std::size_t heartbeats);
    void set_state(db_state s, const std::string& why);
    /// Sleeps up to `d`; returns early when stop() is called.
    void pause(std::chrono::milliseconds d);
    bool give_up() const;
    void maybe_log_stats();
    /// A row on its way into the batch: a worker report of a server judged lost is relabelled
    /// (audit/api_loss.hpp); a delivery confirmation moves the judgement's clock.
    void note_row(pending_row& row);
    /// After a commit or an idle wait, at most once a second: judge the silent API servers lost
    /// and relabel their unconfirmed reports (own statements, outside any batch transaction).
    void maybe_judge_api_loss(bool caught_up);

    const audit_config& cfg_;
    intake& in_;
    writer_hooks hooks_;
    batcher batcher_;
    std::unique_ptr<pg::connection> conn_;
    db_state state_ = db_state::unknown;
    std::chrono::milliseconds backoff_;
    std::string copy_buf_;

    std::atomic<bool> stopping_{false};
    std::atomic<bool> behind_{false};
    std::atomic<std::int64_t> stop_deadline_ns_{0};
    llmp::mutex pause_mu_;
    std::condition_variable pause_cv_;

    mutable llmp::mutex stats_mu_;
    writer_stats stats_ GUARDED_BY(stats_mu_);
    lag_histogram lag_ GUARDED_BY(stats_mu_);
    lag_histogram interval_lag_ GUARDED_BY(stats_mu_);
    std::uint64_t interval_rows_ = 0;  // writer thread only
    // Delivery confirmations (writer thread only).
    std::unordered_set<std::string> lost_servers_;  ///< judged lost: their later reports are api_lost
    std::int64_t newest_confirmation_ms_ = 0;
    steady::time_point last_judgement_{};
    steady::time_point last_ledger_prune_{};
    steady::time_point last_stats_log_ = steady::now();
    std::thread thread_;
};

}  // namespace llmp::audit

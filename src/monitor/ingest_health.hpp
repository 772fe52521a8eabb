#pragma once
// ingest_health: whether the audit is keeping up, judged from samples of what flows in (messages
// waiting in the audit queues) and what got stored (the newest stored row times), and whether
// the dead-letter queue holds messages. The rules are pure functions over the samples (unit
// tested); ingest_health keeps the recent samples and the verdicts for /api/status.
//
// The stall rule: ingest is stalled while the audit queues hold messages and no new row appears
// in PostgreSQL; stalled_for_s counts from the last sample at which either the queues were empty
// or a new row had been stored. Red once that reaches `stall_after`. This catches an audit that
// retries a failing batch (its messages stay unacked), one that is stopped (the queues grow) and
// a database that refuses writes, while a busy but progressing audit (a backlog that drains)
// stays green.
//
// Threading: judge_* are pure; ingest_health's methods may be called from any thread (a mutex
// guards the samples).

#include "common/mutex.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace llmp::monitor {

struct ingest_sample {
    std::int64_t t_ms = 0;
    /// Messages (ready + unacked) in the audit queues; nullopt = management API unavailable.
    std::optional<std::int64_t> backlog;
    /// Consumers of the audit queues (the audit processes); nullopt = unknown.
    std::optional<std::int64_t> consumers;
    /// The newest stored row times (any text that changes when a row is stored); nullopt =
    /// the database could not be read.
    std::optional<std::string> stored_mark;
    /// Messages in the dead-letter queue; nullopt = unknown.
    std::optional<std::int64_t> dead_letters;
};

struct ingest_verdict {
    bool known = false;  ///< false: no queue statistics, nothing can be judged (ok stays true)
    bool ok = true;
    double stalled_for_s = 0;
    std::int64_t backlog = 0;
    std::optional<std::int64_t> consumers;
    std::string reason;  ///< one line when !ok
};

struct dead_letter_verdict {
    bool known = false;
    bool ok = true;  ///< the queue is empty
    std::int64_t count = 0;
    bool growing = false;  ///< the count rose within the growth window
    std::string reason;    ///< one line when !ok
};

/// Samples oldest first.
ingest_verdict judge_ingest(const std::deque<ingest_sample>& samples, std::chrono::milliseconds stall_after);
dead_letter_verdict judge_dead_letters(const std::deque<ingest_sample>& samples, std::chrono::milliseconds window,
                                       const std::string& queue_name);

nlohmann::json to_json(const ingest_verdict& v);
nlohmann::json to_json(const dead_letter_verdict& v);

class ingest_health {
public:
    ingest_health(std::chrono::milliseconds stall_after, std::string dead_queue_name);

    /// Adds a sample (t_ms non-decreasing); keeps enough history for both rules.
    void record(ingest_sample s);
    ingest_verdict ingest() const;
    dead_letter_verdict dead_letters() const;
    std::chrono::milliseconds stall_after() const { return stall_after_; }

private:
    std::chrono::milliseconds stall_after_;
    std::string dead_queue_;
    mutable llmp::mutex mu_;
    std::deque<ingest_sample> samples_ GUARDED_BY(mu_);
};

}  // namespace llmp::monitor

#pragma once
// shared_reads: the dashboard's reads of the database, shared between callers (issue 19: ten
// open tabs should cost the database about what one does). A read names a key (the route and
// its canonical parameters), how long its answer may be shared, and the job that answers it:
//   - a fresh cached answer is returned without a query (result_cache.hpp);
//   - callers that miss while the key's job runs wait for that run instead of starting their
//     own (single flight), so tabs refreshing at the same instant cost one query;
//   - rewarm_due() reads again the wide windows' answers that were read since they were stored
//     and are about to expire, so an open tab never waits for a 7-day query: monitor_service
//     calls it every second. An answer nobody reads is not read again, and expires.
// Only successful answers are kept; a failed one is handed to the callers waiting for it.
// A job may run again long after its first caller (the rewarm): it must read "now" when it
// runs (SQL's now(), or the clock inside the job), never carry its caller's.
// Thread-safe: read() may be awaited from any io thread; the jobs run on the db_pool.

#include "common/asio_fwd.hpp"
#include "common/mutex.hpp"
#include "monitor/db_pool.hpp"
#include "monitor/result_cache.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace llmp::monitor {

class shared_reads {
public:
    using clock = result_cache::clock;

    /// Answers kept at least this long are read again before they expire (rewarm_due).
    static constexpr std::chrono::milliseconds rewarm_min_ttl{10000};
    /// ... this long before.
    static constexpr std::chrono::milliseconds rewarm_lead{2500};

    explicit shared_reads(db_pool& db) : db_{db} {}

    /// The answer of `job` for `key`: the cached one while it is fresh (ttl 0: never kept),
    /// else the answer of the run of `job` already under way for `key`, else a new run's.
    net::awaitable<db_reply> read(std::string key, std::chrono::milliseconds ttl, db_pool::job job);

    /// Reads again, one after another, the answers due at `now` (above); returns how many.
    net::awaitable<std::size_t> rewarm_due(clock::time_point now = clock::now());

    /// Jobs run for reads and rewarms (not answered from the cache or by another's run).
    std::uint64_t queries() const;
    const result_cache& cache() const { return cache_; }

private:
    struct flight;
    struct remembered {
        db_pool::job job;
        std::chrono::milliseconds ttl;
    };
    /// Joins the run under way for `key`, or starts one (`leader` set): the caller runs the job.
    std::shared_ptr<flight> join_or_lead(const std::string& key, bool& leader);
    /// The end of a leader's run: keeps the answer, hands it to the waiting callers.
    void land(const std::string& key, const std::shared_ptr<flight>& f, const db_reply& r,
              std::chrono::milliseconds ttl);
    net::awaitable<db_reply> wait_for(std::shared_ptr<flight> f);
    net::awaitable<db_reply> run_as_leader(const std::string& key, std::shared_ptr<flight> f,
                                           std::chrono::milliseconds ttl, db_pool::job job);

    db_pool& db_;
    result_cache cache_;
    mutable llmp::mutex mu_;
    std::map<std::string, std::shared_ptr<flight>> flights_ GUARDED_BY(mu_);
    /// The jobs of the answers that may be read again (ttl >= rewarm_min_ttl).
    std::map<std::string, remembered> jobs_ GUARDED_BY(mu_);
    std::uint64_t queries_ GUARDED_BY(mu_) = 0;
};

}  // namespace llmp::monitor

#pragma once
// local_store: per-key counters in this process — the limits of a server without Redis, and of
// every server while Redis is unreachable (then each server admits up to the whole limit: the
// fleet may give a key N times its limit for that while, never an outage). The same arithmetic
// as redis_store's scripts (limits/usage.hpp), so limiter_test checks it with a fake clock.
//
// Threading: any thread; one mutex around a hash map, held for a few lookups.

#include "common/mutex.hpp"
#include "limits/counter_store.hpp"

#include <string>
#include <unordered_map>

namespace llmp::limits {

class local_store {
public:
    admission admit(const admit_args& a);
    void finish(const finish_args& a);

private:
    struct key_state {
        std::int64_t minute = -1;
        std::int64_t requests = 0;
        std::int64_t tokens = 0;
        std::int64_t day = -1;
        std::int64_t day_tokens = 0;
        std::int64_t month = -1;
        std::int64_t month_tokens = 0;
        std::unordered_map<std::string, std::int64_t> streams;  ///< request id -> lease end (ms)
    };
    /// `k` with its windows moved on to `w` (a new window starts at zero).
    static void roll(key_state& k, const windows& w, std::int64_t now_ms);

    mutex mu_;
    std::unordered_map<std::string, key_state> keys_ GUARDED_BY(mu_);
};

}  // namespace llmp::limits

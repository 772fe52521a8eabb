#pragma once
// counter_store: what the limiter asks of a place that keeps per-key counters — admit a request
// (check every limit of its key and count it, atomically) and finish one (release its stream,
// charge its tokens). local_store keeps them in this process; redis_store in Redis, shared by
// every API server of the fleet.
//
// Threading: see each implementation.

#include "common/result.hpp"
#include "keys/api_key.hpp"
#include "limits/usage.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace llmp::limits {

struct admit_args {
    std::string key_id;
    keys::key_limits limits;
    std::string request_id;
    std::int64_t now_ms = 0;
    /// Past this moment the request no longer counts as a stream in flight, finished or not:
    /// the bound on what a crashed API server leaves behind (its request deadline).
    std::int64_t lease_until_ms = 0;
    std::int64_t window_ms = 60000;
};

struct finish_args {
    std::string key_id;
    std::string request_id;
    std::int64_t tokens = 0;  ///< prompt + completion, as far as known
    std::int64_t now_ms = 0;
    std::int64_t window_ms = 60000;
};

/// The fleet-wide store, as the limiter sees it (a fake in limiter_test).
class shared_store {
public:
    using admit_done = std::function<void(result<admission>)>;
    virtual ~shared_store() = default;
    /// Reachable as far as it knows now.
    virtual bool up() const = 0;
    /// Counts `a` and calls `done` once: on the store's own thread, or inline with an error
    /// when it cannot take the request now (down, too many waiting).
    virtual void admit(admit_args a, admit_done done) = 0;
    /// Queues the finish; false when it cannot (the caller charges another store).
    virtual bool finish(finish_args a) = 0;
};

}  // namespace llmp::limits

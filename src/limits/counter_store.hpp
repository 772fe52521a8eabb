#pragma once
// counter_store: what the limiter asks of a place that keeps per-key counters — admit a request
// (check every limit of its key and count it, atomically) and finish one (release its stream,
// charge its tokens); and, for the fleet-wide store, reserve a batch of a key's requests ahead
// of need (the limiter's lease, limiter.hpp) and charge tokens without anyone waiting.
// local_store keeps them in this process; redis_store in Redis, shared by every API server of
// the fleet.
//
// Threading: see each implementation.

#include "common/result.hpp"
#include "keys/api_key.hpp"
#include "limits/usage.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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

/// Up to `want` requests of a key reserved in one step (a lease): checked against the key's
/// limits like an admission and counted at once, to be admitted by this server later without
/// asking. Not for keys with a stream cap (each stream is its own entry).
struct reserve_args {
    std::string key_id;
    keys::key_limits limits;
    std::int64_t want = 1;
    std::int64_t now_ms = 0;
    std::int64_t window_ms = 60000;
};

/// The store's answer to a reservation: how many requests it granted (0 when a limit refused,
/// fewer than asked when the requests per minute ran out) and the key's counts after it.
struct grant {
    limit_kind refused = limit_kind::none;
    std::int64_t granted = 0;
    counts now;
};

/// Stream slots of a key with a stream cap, held by one server: each slot is an entry of the
/// key's streams in flight (the same set the per-request admission adds request ids to), named
/// by the server (`names`), counted against the cap and held until `until_ms` unless renewed.
struct slot_args {
    std::string key_id;
    std::int64_t cap = 0;
    std::vector<std::string> names;  ///< reserve: up to this many (in this order); renew: the held ones
    std::int64_t now_ms = 0;
    std::int64_t until_ms = 0;
};

/// The store's answer about slots: reserve: how many of the names it granted (the first ones);
/// renew: how many of them it still held (fewer: some expired or were lost with Redis' data).
/// `in_flight`: the key's streams in flight in the fleet after it.
struct slot_grant {
    std::int64_t granted = 0;
    std::int64_t in_flight = 0;
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

    using reserve_done = std::function<void(result<grant>)>;
    /// Reserves and calls `done` once, like admit.
    virtual void reserve(reserve_args a, reserve_done done) = 0;
    /// Adds `a.tokens` to the key's token counts soon, merged with other charges of the key
    /// (nothing waits for it; a.request_id is ignored). False when it cannot.
    virtual bool charge(finish_args a) = 0;

    using slots_done = std::function<void(result<slot_grant>)>;
    /// Takes up to `a.names.size()` free slots under `a.cap` and calls `done` once, like admit.
    virtual void reserve_slots(slot_args a, slots_done done) = 0;
    /// Extends the hold of `a.names` (those the store still has) to `a.until_ms`; `done` once.
    virtual void renew_slots(slot_args a, slots_done done) = 0;
    /// Frees `a.names` soon; nothing waits for it. False when it cannot (they expire on their own).
    virtual bool release_slots(slot_args a) = 0;
};

}  // namespace llmp::limits

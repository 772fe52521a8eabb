#pragma once
// limiter: the per-key limits of issue 14 item 3, as the API's relay uses them — admit a request
// of a key with limits (requests per minute, streams in flight, and the tokens per minute, day
// and month counted so far) and, when it ends, release its stream and charge its tokens.
//
// The counts live in the fleet-wide shared_store (Redis) when one is configured and reachable,
// else in this process (local_store). A request finishes in the store that admitted it. When
// Redis goes away, admissions switch to the local counts at once (no request waits for a dead
// store beyond the store's timeout) and back when it returns: an outage of Redis loosens the
// limits to per-server ones for that while, never stops the API.
//
// Leases: asking Redis on a request's path cost +359 us at c=1 (bench/RESULTS.md: two thread
// hand-offs each way and the round trip, for the admission and again for the finish), so the
// limiter reserves a small batch of a key's requests in Redis ahead of need (one EVALSHA:
// checked against the limits and counted there at once, so the fleet never admits more than
// the limit) and admits from it here. It refills when the batch runs low, before it is empty,
// and in the last `prefetch` of a window it reserves the next window's first batch, so a
// steady client never waits for Redis. The batch starts at 1 and doubles while requests have to
// wait or a batch lasts under 200 ms, up to a share of the key's requests per minute (1/50, at
// least 1; halved at a window's end with some left over): what a server may hold unused when
// the window ends, the fleet's shortfall — at most one request per server for a key under
// 100 RPM (docs/architecture.md, "Limits per key", on why that is fine for small limits too).
// Tokens are charged here at once (the next admission on this server sees them) and in Redis
// merged per key, within 100 ms. Refusals need no round trip either: within a window counts
// only grow, so a limit Redis said was reached stays reached until the window ends (or the
// key's limits change).
//
// Stream slots: a key with a stream cap holds a few slots of its cap for this server (entries
// of the key's streams-in-flight set in Redis, named by this server, held for slot_ttl and
// renewed while held). A stream takes a held slot here and gives it back at its end; when none
// is free the limiter reserves the waiters' slots plus a small headroom (which grows while
// streams wait), and a slot given back is kept for the next stream while the key is busy:
// slots beyond the headroom go back to Redis at once, the rest after slot_linger unused (both
// off the request path). Redis never holds more than the cap fleet-wide; what one server holds
// idle can refuse another server's stream for at most slot_linger (under the 1 s Retry-After
// of a stream refusal).
//
// Why not hiredis' async API on the io_context instead: it would save the thread hand-offs
// but keep the round trip on the path; leases remove both for the common case.
//
// Threading: any thread. async_admit completes on the completion token's executor (the
// relay's strand); the shared store's answer arrives on its thread and is posted there. One
// mutex guards the leases, never held while calling the store or a completion.

#include "common/asio_fwd.hpp"
#include "common/clock.hpp"
#include "common/mutex.hpp"
#include "keys/api_key.hpp"
#include "limits/counter_store.hpp"
#include "limits/local_store.hpp"
#include "limits/usage.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmp::limits {

struct limiter_config {
    /// The "minute" of requests and tokens per minute (tests shorten it).
    std::chrono::milliseconds window{60000};
    /// A lease holds at most requests_per_minute / lease_divisor of a key's requests; keys whose
    /// quotient is 0 are admitted one by one in the shared store.
    std::int64_t lease_divisor = 50;
    /// The most a lease holds for a key without a requests-per-minute limit (token limits only):
    /// how many requests a server may admit past a token limit it has not heard of yet.
    std::int64_t max_lease = 64;
    /// A lease should last at least this long: while one is used up faster (or requests wait
    /// for it), the next is twice as big, up to the cap above. Fewer reservations, fewer wakes
    /// of the store thread.
    std::chrono::milliseconds lease_horizon{200};
    /// The least a lease holds for a key with a requests-per-minute limit (its share rounds
    /// down to 0 under 50 RPM). 0: such keys are admitted one by one in the shared store.
    std::int64_t min_lease = 1;
    /// In this last part of a window (at most half of it), an admission from the lease reserves
    /// the next window's first batch.
    std::chrono::milliseconds prefetch{10000};
    /// Keys with a stream cap hold slots of it (false: admitted one by one in the shared store).
    bool lease_streams = true;
    /// A held slot counts in Redis until this long after its last renewal (what a crashed
    /// server leaves behind); held slots are renewed every third of it.
    std::chrono::milliseconds slot_ttl{10000};
    /// A free held slot beyond the headroom goes back at once; within it, after this long unused.
    std::chrono::milliseconds slot_linger{500};
    /// The most slots a server reserves ahead of its streams (also at most a quarter of the cap).
    std::int64_t max_slot_headroom = 16;
};

/// What admission decided, and what the request's end needs to settle it.
struct limit_decision {
    limit_kind refused = limit_kind::none;
    counts now;
    windows w;
    bool shared = false;                ///< counted in the shared store (else in this process)
    bool leased = false;                ///< admitted from this server's lease (counted in the shared store ahead)
    bool slot = false;                  ///< holds one of this server's stream slots of the key (given back at finish)
    std::uint64_t slot_generation = 0;  ///< of the key's slots it holds (stale after they were dropped)
};

/// What the limiter counted: for /metrics.
struct limiter_stats {
    std::array<std::atomic<std::uint64_t>, limit_kind_count> refused{};  ///< by limit_kind
    std::atomic<std::uint64_t> local_admissions{0};                      ///< counted in this process
    std::atomic<std::uint64_t> shared_admissions{0};                     ///< leased ones included
    std::atomic<std::uint64_t> leased_admissions{0};                     ///< decided here, from a lease
    std::atomic<std::uint64_t> reservations{0};                          ///< leases granted by the shared store
    std::atomic<std::uint64_t> slot_reservations{0};                     ///< stream slot reservations answered
    std::atomic<std::uint64_t> slot_admissions{0};                       ///< streams that found a held slot free
};

class limiter {
public:
    using clock_fn = std::function<std::int64_t()>;

    /// `shared` may be null (no --redis-url: local limits only); it outlives the limiter.
    explicit limiter(limiter_config cfg, shared_store* shared = nullptr, clock_fn now_ms = unix_ms);

    /// Admits (or refuses) a request of `key` with id `request_id`, which counts as a stream in
    /// flight until finish() or `lease_until_ms`. Completion signature void(limit_decision).
    template <class Token>
    auto async_admit(const keys::usable_key& key, std::string request_id, std::int64_t lease_until_ms, Token&& token) {
        return net::async_initiate<Token, void(limit_decision)>(
            [this](auto handler, admit_args a) {
                auto ex = net::get_associated_executor(handler);
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                admit(std::move(a),
                      [h, ex](limit_decision d) { net::post(ex, [h, d]() mutable { std::move (*h)(d); }); });
            },
            token, args_of(key, std::move(request_id), lease_until_ms));
    }

    /// The request admitted by `d` ended having used `tokens` (prompt + completion as far as
    /// known): its stream is released and its tokens charged where it was counted.
    void finish(const limit_decision& d, const std::string& key_id, const std::string& request_id, std::int64_t tokens);

    /// The shared store is configured and reachable (what /readyz and /metrics say).
    bool shared_up() const { return shared_ != nullptr && shared_->up(); }
    bool has_shared() const { return shared_ != nullptr; }
    const limiter_stats& stats() const { return stats_; }
    std::chrono::milliseconds window() const { return cfg_.window; }

    /// The admission without Asio: `done` runs inline (local counts, a lease) or on the shared
    /// store's thread.
    void admit(admit_args a, std::function<void(limit_decision)> done);

    /// Housekeeping of the held stream slots, every ~100 ms from the shared store's thread (or a
    /// test): slots unused for slot_linger go back, held ones are renewed before they expire.
    void tick();

    /// Stream slots of `key_id` this server holds now (tests).
    std::int64_t held_slots_for_test(const std::string& key_id);

private:
    using done_fn = std::function<void(limit_decision)>;
    struct waiter {
        admit_args a;
        done_fn done;
    };
    /// A key's requests reserved in the shared store for one window and not yet admitted here.
    struct lease {
        std::int64_t minute = -1;  ///< the window it is for (windows_at)
        std::int64_t day = -1;
        std::int64_t month = -1;
        std::int64_t credit = 0;          ///< reserved, not yet admitted
        std::int64_t batch = 1;           ///< reserved ahead of need
        std::int64_t reserved_at_ms = 0;  ///< when the last reservation was granted
        bool reserving = false;           ///< a reservation is on its way
        bool known = false;               ///< `seen` is the store's word for this window
        counts seen;                      ///< the store's counts at its last answer, plus tokens charged here since
        std::deque<waiter> waiting;       ///< admissions waiting for the reservation
        bool prefetching = false;         ///< a reservation for the next window is on its way
        std::int64_t next_minute = -1;    ///< the window `next_credit` is for
        std::int64_t next_credit = 0;     ///< reserved ahead for the next window
        counts next_seen;                 ///< the store's counts for it
    };
    /// A key's stream slots held by this server.
    struct slot_pool {
        std::vector<std::string> held;  ///< names of the slots in the store
        std::int64_t in_use = 0;        ///< held by streams in flight here
        std::int64_t headroom = 1;      ///< free slots kept (and reserved) ahead of need
        std::int64_t cap = 0;           ///< the key's stream cap, as last seen
        std::uint64_t generation = 0;   ///< bumped when the held slots are forgotten
        std::int64_t last_used_ms = 0;  ///< a slot was last taken or given back
        std::int64_t renewed_ms = 0;
        std::int64_t full_until_ms = 0;  ///< the store found the cap reached: no headroom asked till then
        bool reserving = false;
        std::deque<waiter> waiting;
    };

    admit_args args_of(const keys::usable_key& key, std::string request_id, std::int64_t lease_until_ms) const;
    limit_decision decided(const admit_args& a, const admission& got, bool shared, bool leased = false);
    /// The lease's share of the key's limit (0: not leased).
    std::int64_t lease_cap(const keys::key_limits& l) const;
    void admit_leased(admit_args a, done_fn done);
    void reserved(const reserve_args& r, result<grant> g, bool ahead);
    void ask(reserve_args r, bool ahead = false);
    /// The reservation of the next window's first batch, when the window is about to end.
    std::optional<reserve_args> next_window(lease& l, const admit_args& a) REQUIRES(lease_mu_);
    /// Whether `l` has a limit counted per request (a stream cap alone is held as slots).
    static bool counts_requests(const keys::key_limits& l);

    void admit_stream(admit_args a, done_fn done);
    /// `a` holds a slot of generation `gen`: the rest of its limits, then `done`.
    void admit_with_slot(admit_args a, std::uint64_t gen, done_fn done);
    void slots_reserved(const std::string& key_id, const slot_args& asked, result<slot_grant> g);
    std::optional<slot_args> next_slots(slot_pool& p, const std::string& key_id, std::int64_t now) REQUIRES(lease_mu_);
    /// Gives a stream's slot back; returns the slots to release now (beyond the headroom).
    std::optional<slot_args> give_back(const std::string& key_id, std::uint64_t gen, std::int64_t now);
    static void forget(slot_pool& p);
    void roll(lease& l, const windows& w) REQUIRES(lease_mu_);
    /// Decides `a` from the lease; nullopt when only the store can (nothing in hand or known).
    std::optional<admission> from_lease(lease& l, const admit_args& a) REQUIRES(lease_mu_);
    /// The reservation the lease needs now (marked on its way), if any.
    std::optional<reserve_args> next_reservation(lease& l, const std::string& key_id, const keys::key_limits& limits)
        REQUIRES(lease_mu_);

    const limiter_config cfg_;
    shared_store* const shared_;
    const clock_fn now_ms_;
    local_store local_;
    limiter_stats stats_;
    mutex lease_mu_;
    std::unordered_map<std::string, lease> leases_ GUARDED_BY(lease_mu_);
    std::unordered_map<std::string, slot_pool> pools_ GUARDED_BY(lease_mu_);
    /// Names this server's slots apart from every other server's.
    const std::string instance_;
    std::uint64_t next_slot_ GUARDED_BY(lease_mu_) = 0;
};

}  // namespace llmp::limits

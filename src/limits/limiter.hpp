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
// hand-offs each way and the round trip, for the admission and again for the finish), so for
// a key without a stream cap the limiter reserves a small batch of the key's requests in Redis
// ahead of need (one EVALSHA: checked against the limits and counted there at once, so the
// fleet never admits more than the limit) and admits from it here. It refills when the batch
// runs low, before it is empty, so a steady client never waits for Redis; only a key's first
// request in a window (or one that outruns the refill) does. The batch starts at 1 and doubles
// while requests have to wait or a batch lasts under 200 ms, up to a share of the key's
// requests per minute (1/50; halved at a window's end with some left over): what a
// server may hold unused when the window ends, the fleet's shortfall — at most one request per
// server for a 60 RPM key, so two servers give it 58 to 60. Tokens are charged here at once
// (the next admission on this server sees them) and in Redis merged per key, within 100 ms.
// Refusals need no round trip either: within a window counts only grow, so a limit Redis said
// was reached stays reached until the window ends (or the key's limits change). Keys with a
// stream cap, and keys under 50 requests a minute (where one held request is over 2 %), keep
// the exact per-request admission. Why not hiredis' async API on the io_context instead: it
// would save the thread hand-offs but keep the round trip on the path; the lease removes both
// for the common case with the store thread unchanged.
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
};

/// What admission decided, and what the request's end needs to settle it.
struct limit_decision {
    limit_kind refused = limit_kind::none;
    counts now;
    windows w;
    bool shared = false;  ///< counted in the shared store (else in this process)
    bool leased = false;  ///< admitted from this server's lease (counted in the shared store ahead)
};

/// What the limiter counted: for /metrics.
struct limiter_stats {
    std::array<std::atomic<std::uint64_t>, limit_kind_count> refused{};  ///< by limit_kind
    std::atomic<std::uint64_t> local_admissions{0};                      ///< counted in this process
    std::atomic<std::uint64_t> shared_admissions{0};                     ///< leased ones included
    std::atomic<std::uint64_t> leased_admissions{0};                     ///< decided here, from a lease
    std::atomic<std::uint64_t> reservations{0};                          ///< leases granted by the shared store
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
    };

    admit_args args_of(const keys::usable_key& key, std::string request_id, std::int64_t lease_until_ms) const;
    limit_decision decided(const admit_args& a, const admission& got, bool shared, bool leased = false);
    /// The lease's share of the key's limit (0: not leased).
    std::int64_t lease_cap(const keys::key_limits& l) const;
    void admit_leased(admit_args a, done_fn done);
    void reserved(const reserve_args& r, result<grant> g);
    void ask(reserve_args r);
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
};

}  // namespace llmp::limits

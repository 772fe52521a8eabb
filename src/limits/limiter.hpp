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
// Threading: any thread. async_admit completes on the completion token's executor (the
// relay's strand); the shared store's answer arrives on its thread and is posted there.

#include "common/asio_fwd.hpp"
#include "common/clock.hpp"
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
#include <functional>
#include <memory>
#include <string>

namespace llmp::limits {

struct limiter_config {
    /// The "minute" of requests and tokens per minute (tests shorten it).
    std::chrono::milliseconds window{60000};
};

/// What admission decided, and what the request's end needs to settle it.
struct limit_decision {
    limit_kind refused = limit_kind::none;
    counts now;
    windows w;
    bool shared = false;  ///< counted in the shared store (else in this process)
};

/// What the limiter counted: for /metrics.
struct limiter_stats {
    std::array<std::atomic<std::uint64_t>, limit_kind_count> refused{};  ///< by limit_kind
    std::atomic<std::uint64_t> local_admissions{0};                      ///< counted in this process
    std::atomic<std::uint64_t> shared_admissions{0};
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

    /// The admission without Asio: `done` runs inline (local counts) or on the shared store's
    /// thread.
    void admit(admit_args a, std::function<void(limit_decision)> done);

private:
    admit_args args_of(const keys::usable_key& key, std::string request_id, std::int64_t lease_until_ms) const;
    limit_decision decided(const admit_args& a, const admission& got, bool shared);

    const limiter_config cfg_;
    shared_store* const shared_;
    const clock_fn now_ms_;
    local_store local_;
    limiter_stats stats_;
};

}  // namespace llmp::limits

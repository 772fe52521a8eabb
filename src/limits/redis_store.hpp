#pragma once
// redis_store: per-key counters in Redis, shared by every API server of the fleet, so a key
// limited to 60 requests a minute gets 60 in all however many servers it is spread over. Each
// admission is one EVALSHA of a Lua script that checks every limit of the key and counts the
// request atomically (no two servers can both take the last slot); each finish is one more
// that releases the stream and charges the tokens. A reservation (the limiter's lease) is one
// EVALSHA that grants a batch of requests; token charges are merged per key and sent together
// at most charge_delay later, without a wake of the thread per request. Keys are llmp:lim:{<key id>}:... (the hash
// tag keeps one key's counters on one Redis Cluster slot) and expire on their own.
//
// Why a thread of its own with the blocking hiredis API rather than hiredis' async API on the
// io_context: it is how this tree already uses rabbitmq-c and libpq (one connection owned by
// one thread, I/O threads hand work over and never block), Debian's hiredis 0.14 ships no Asio
// adapter, and the thread pipelines — every admission queued while the last batch was in
// flight goes out in one write and comes back in one read, so a busy server pays one round trip
// per batch, not per request. Its hand-offs cost two thread wakes each way, which is why the
// limiter reserves ahead (limiter.hpp) instead of asking here on a request's path.
//
// When Redis is unreachable (or answers nothing within the timeout) the store says so once in
// the log, reports down, refuses new work at once (the limiter counts locally meanwhile) and
// reconnects every reconnect_interval; when it is back it says so once more.
//
// Stream slots (the limiter's, limiter.hpp) are entries of the same sorted set as the
// per-request streams, named by the server that holds them: one EVALSHA takes as many as the
// cap leaves free, one renews them, a ZREM gives them back.
//
// Threading: admit/finish/up from any thread; `done` callbacks, the tick and on_state run on the
// store's thread (or inline in admit when it refuses). The hiredis context is the store thread's only.

#include "limits/counter_store.hpp"
#include "common/mutex.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

struct redisContext;

namespace llmp::limits {

/// redis://[[user]:password@]host[:port][/db]
struct redis_address {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string user;
    std::string password;
    int db = 0;
};
result<redis_address> parse_redis_url(std::string_view url);

struct redis_options {
    std::string url;
    /// Connect and per-command timeout: past it Redis counts as down (the limiter goes local).
    std::chrono::milliseconds timeout{250};
    std::chrono::milliseconds reconnect_interval{500};
    /// While idle, a PING this often notices Redis going away (for /readyz and the log).
    std::chrono::milliseconds ping_interval{1000};
    /// Work waiting for the store thread at most; past it admissions count locally.
    std::size_t max_pending = 10000;
    /// Token charges wait at most this long for company (merged per key into one command).
    std::chrono::milliseconds charge_delay{100};
};

class redis_store final : public shared_store {
public:
    using state_fn = std::function<void(bool up)>;

    /// Fails on a malformed URL (a start-up error). Does not connect: start() does.
    static result<std::unique_ptr<redis_store>> create(redis_options opts, state_fn on_state = {});
    ~redis_store() override;
    redis_store(const redis_store&) = delete;
    redis_store& operator=(const redis_store&) = delete;

    /// Starts the thread; it connects at once (an unreachable Redis is not a start-up error).
    void start();
    /// Waits up to `timeout` for the first connection attempt to end; true when it is up.
    bool wait_connected(std::chrono::milliseconds timeout);

    bool up() const override { return up_.load(); }
    void admit(admit_args a, admit_done done) override;
    bool finish(finish_args a) override;
    void reserve(reserve_args a, reserve_done done) override;
    bool charge(finish_args a) override;
    void reserve_slots(slot_args a, slots_done done) override;
    void renew_slots(slot_args a, slots_done done) override;
    bool release_slots(slot_args a) override;

    /// Runs `fn` on the store's thread about every `every` while it is up (the limiter's
    /// housekeeping of held stream slots). Before start().
    void set_tick(std::function<void()> fn, std::chrono::milliseconds every);

    /// Commands that failed (each took its connection down with it).
    std::uint64_t errors() const { return errors_.load(); }

private:
    struct admit_job {
        admit_args args;
        admit_done done;
    };
    struct reserve_job {
        reserve_args args;
        reserve_done done;
    };
    struct slots_job {
        slot_args args;
        slots_done done;
        bool renew = false;
    };
    struct release_job {
        slot_args args;
    };
    using job = std::variant<admit_job, finish_args, reserve_job, slots_job, release_job>;
    /// Queues `j` unless too much waits; false then.
    bool enqueue(job&& j);

    redis_store(redis_options opts, redis_address addr, state_fn on_state);
    void run();
    bool connect();
    void drop(std::string_view why);
    void set_up(bool up, std::string_view why);
    /// Sends `batch` pipelined and answers each; false when the connection failed.
    bool exchange(std::deque<job>& batch);
    void fail_one(job& j, std::string_view why);
    void fail_all(std::deque<job>& batch, std::string_view why);

    const redis_options opts_;
    const redis_address addr_;
    const state_fn on_state_;
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<bool> attempted_{false};

    // The store thread's only.
    redisContext* ctx_ = nullptr;
    std::string admit_sha_;
    std::string finish_sha_;
    std::string reserve_sha_;
    std::string slots_sha_;
    std::string renew_sha_;
    std::function<void()> tick_;
    std::chrono::milliseconds tick_every_{100};
    std::chrono::steady_clock::time_point next_tick_{};
    bool was_up_ = false;
    bool reported_ = false;

    mutex mu_;
    std::condition_variable cv_;
    std::deque<job> queue_ GUARDED_BY(mu_);
    /// Token charges by key and window, merged (charge()).
    std::unordered_map<std::string, finish_args> charges_ GUARDED_BY(mu_);
    std::chrono::steady_clock::time_point charges_since_ GUARDED_BY(mu_);
    bool stop_ GUARDED_BY(mu_) = false;
    std::thread thread_;
};

}  // namespace llmp::limits

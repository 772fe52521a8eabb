// The limit arithmetic (usage), the in-process counts (local_store) and the limiter's switch
// between the shared store and local counts, with a fake clock and a fake shared store.
#include "limits/limiter.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace llmp::limits {
namespace {

// 2026-12-06T21:00:00Z
constexpr std::int64_t t0 = 1'796'590'800'000;

keys::key_limits rpm(std::int64_t n) {
    keys::key_limits l;
    l.requests_per_minute = n;
    return l;
}

admit_args args(const keys::key_limits& l, std::int64_t now, std::string id = "r") {
    admit_args a;
    a.key_id = "k1";
    a.limits = l;
    a.request_id = std::move(id);
    a.now_ms = now;
    a.lease_until_ms = now + 600'000;
    return a;
}

TEST(usage, windows_of_a_moment) {
    auto w = windows_at(t0 + 15'250, 60'000);
    EXPECT_EQ(w.minute_reset_ms, 44'750);
    EXPECT_EQ(w.day_reset_ms, 3 * 3'600'000 - 15'250);
    EXPECT_EQ(w.month, 202612);
    EXPECT_EQ(w.month_reset_ms, (25 * 24 + 3) * 3'600'000LL - 15'250);
    auto dec31 = windows_at(1'798'761'599'000, 60'000);  // 2026-12-31T23:59:59Z
    EXPECT_EQ(dec31.month, 202612);
    EXPECT_EQ(dec31.month_reset_ms, 1000);
    EXPECT_EQ(windows_at(1'798'761'600'000, 60'000).month, 202701);
}

TEST(usage, go_durations_as_openai_sends_them) {
    EXPECT_EQ(go_duration(0), "0ms");
    EXPECT_EQ(go_duration(12), "12ms");
    EXPECT_EQ(go_duration(1000), "1s");
    EXPECT_EQ(go_duration(1500), "1.5s");
    EXPECT_EQ(go_duration(1050), "1.05s");
    EXPECT_EQ(go_duration(360'000), "6m0s");
    EXPECT_EQ(go_duration(3'723'000), "1h2m3s");
}

TEST(usage, first_reached_checks_in_order_and_admits_below) {
    keys::key_limits l;
    l.requests_per_minute = 2;
    l.tokens_per_minute = 100;
    l.max_streams = 1;
    l.tokens_per_day = 1000;
    l.tokens_per_month = 5000;
    EXPECT_EQ(first_reached({1, 99, 0, 999, 4999}, l), limit_kind::none);
    EXPECT_EQ(first_reached({2, 100, 1, 1000, 5000}, l), limit_kind::requests);
    EXPECT_EQ(first_reached({1, 100, 1, 1000, 5000}, l), limit_kind::tokens);
    EXPECT_EQ(first_reached({1, 0, 1, 1000, 5000}, l), limit_kind::streams);
    EXPECT_EQ(first_reached({1, 0, 0, 1000, 5000}, l), limit_kind::daily_tokens);
    EXPECT_EQ(first_reached({1, 0, 0, 0, 5000}, l), limit_kind::monthly_tokens);
    EXPECT_EQ(first_reached({1'000'000, 1'000'000, 1'000, 1'000'000, 1'000'000}, keys::key_limits{}), limit_kind::none);
}

TEST(usage, retry_after_waits_for_the_window_of_the_limit) {
    auto w = windows_at(t0 + 59'001, 60'000);
    EXPECT_EQ(retry_after_s(limit_kind::requests, w), 1);
    EXPECT_EQ(retry_after_s(limit_kind::streams, w), 1);
    EXPECT_EQ(retry_after_s(limit_kind::daily_tokens, w), (3 * 3'600'000 - 59'001 + 999) / 1000);
    EXPECT_EQ(retry_after_s(limit_kind::requests, windows_at(t0 + 1, 60'000)), 60);
}

TEST(usage, rate_headers_for_the_limits_a_key_has) {
    keys::key_limits l;
    l.requests_per_minute = 60;
    auto w = windows_at(t0 + 54'000, 60'000);
    auto h = rate_headers(l, counts{3, 0, 0, 0, 0}, w);
    ASSERT_EQ(h.size(), 3u);
    EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"x-ratelimit-limit-requests", "60"}));
    EXPECT_EQ(h[1], (std::pair<std::string, std::string>{"x-ratelimit-remaining-requests", "57"}));
    EXPECT_EQ(h[2], (std::pair<std::string, std::string>{"x-ratelimit-reset-requests", "6s"}));
    l.tokens_per_minute = 1000;
    h = rate_headers(l, counts{61, 1200, 0, 0, 0}, w);
    ASSERT_EQ(h.size(), 6u);
    EXPECT_EQ(h[1].second, "0");
    EXPECT_EQ(h[3], (std::pair<std::string, std::string>{"x-ratelimit-limit-tokens", "1000"}));
    EXPECT_EQ(h[4], (std::pair<std::string, std::string>{"x-ratelimit-remaining-tokens", "0"}));
    EXPECT_TRUE(rate_headers(keys::key_limits{}, counts{}, w).empty());
}

TEST(local_store, admits_exactly_the_limit_per_window) {
    local_store s;
    int admitted = 0;
    for (int i = 0; i < 100; ++i) {
        admitted += s.admit(args(rpm(60), t0 + i)).refused == limit_kind::none ? 1 : 0;
    }
    EXPECT_EQ(admitted, 60);
    auto refused = s.admit(args(rpm(60), t0 + 59'999));
    EXPECT_EQ(refused.refused, limit_kind::requests);
    EXPECT_EQ(refused.now.requests, 60);
    // The next window starts at zero.
    auto next = s.admit(args(rpm(60), t0 + 60'000));
    EXPECT_EQ(next.refused, limit_kind::none);
    EXPECT_EQ(next.now.requests, 1);
}

TEST(local_store, streams_are_released_by_finish_or_by_their_lease) {
    local_store s;
    keys::key_limits l;
    l.max_streams = 2;
    EXPECT_EQ(s.admit(args(l, t0, "a")).refused, limit_kind::none);
    EXPECT_EQ(s.admit(args(l, t0, "b")).now.streams, 2);
    EXPECT_EQ(s.admit(args(l, t0, "c")).refused, limit_kind::streams);
    s.finish({"k1", "a", 0, t0 + 10, 60'000});
    EXPECT_EQ(s.admit(args(l, t0 + 20, "d")).refused, limit_kind::none);
    // b and d were never finished (a crashed server): their leases end.
    EXPECT_EQ(s.admit(args(l, t0 + 30, "e")).refused, limit_kind::streams);
    EXPECT_EQ(s.admit(args(l, t0 + 600'021, "f")).refused, limit_kind::none);
}

TEST(local_store, tokens_are_charged_at_finish_to_the_minute_day_and_month) {
    local_store s;
    keys::key_limits l;
    l.tokens_per_minute = 100;
    l.tokens_per_day = 150;
    EXPECT_EQ(s.admit(args(l, t0, "a")).refused, limit_kind::none);
    s.finish({"k1", "a", 120, t0 + 1, 60'000});
    auto over = s.admit(args(l, t0 + 2, "b"));
    EXPECT_EQ(over.refused, limit_kind::tokens);
    EXPECT_EQ(over.now.tokens, 120);
    // A minute on, the minute's tokens start over but the day's stay.
    EXPECT_EQ(s.admit(args(l, t0 + 60'000, "c")).refused, limit_kind::none);
    s.finish({"k1", "c", 40, t0 + 60'001, 60'000});
    auto day = s.admit(args(l, t0 + 60'002, "d"));
    EXPECT_EQ(day.refused, limit_kind::daily_tokens);
    EXPECT_EQ(day.now.day_tokens, 160);
    // The next UTC day (03:00 after t0) starts over.
    EXPECT_EQ(s.admit(args(l, t0 + 3 * 3'600'000, "e")).refused, limit_kind::none);
}

TEST(local_store, keys_count_apart) {
    local_store s;
    auto a = args(rpm(1), t0);
    auto b = a;
    b.key_id = "k2";
    EXPECT_EQ(s.admit(a).refused, limit_kind::none);
    EXPECT_EQ(s.admit(b).refused, limit_kind::none);
    EXPECT_EQ(s.admit(a).refused, limit_kind::requests);
}

/// A shared store that answers when told to, or says it is down. Reservations are granted from
/// `fleet`, counts per key and window as Redis keeps them; `instant` answers them inline.
class fake_shared final : public shared_store {
public:
    bool is_up = true;
    bool instant = false;
    std::deque<std::pair<admit_args, admit_done>> pending;
    std::deque<std::pair<reserve_args, reserve_done>> reservations;
    std::vector<finish_args> finished;
    std::vector<finish_args> charged;
    std::map<std::pair<std::string, std::int64_t>, limits::counts> fleet;
    local_store counts;

    bool up() const override { return is_up; }
    void admit(admit_args a, admit_done done) override { pending.emplace_back(std::move(a), std::move(done)); }
    bool finish(finish_args a) override {
        if (!is_up) {
            return false;
        }
        finished.push_back(a);
        return true;
    }
    void reserve(reserve_args a, reserve_done done) override {
        if (instant) {
            done(granted(a));
            return;
        }
        reservations.emplace_back(std::move(a), std::move(done));
    }
    bool charge(finish_args a) override {
        if (!is_up) {
            return false;
        }
        auto& c = fleet[{a.key_id, a.now_ms / a.window_ms}];
        c.tokens += a.tokens;
        c.day_tokens += a.tokens;
        c.month_tokens += a.tokens;
        charged.push_back(a);
        return true;
    }
    grant granted(const reserve_args& a) {
        auto& c = fleet[{a.key_id, a.now_ms / a.window_ms}];
        grant g;
        g.refused = first_reached(c, a.limits);
        if (g.refused == limit_kind::none) {
            g.granted =
                a.limits.requests_per_minute ? std::min(a.want, *a.limits.requests_per_minute - c.requests) : a.want;
            c.requests += g.granted;
        }
        g.now = c;
        return g;
    }
    void answer() {
        auto [a, done] = std::move(pending.front());
        pending.pop_front();
        done(counts.admit(a));
    }
    void fail() {
        auto [a, done] = std::move(pending.front());
        pending.pop_front();
        done(llmp::fail("redis_unavailable", "gone"));
    }
    void grant_next() {
        auto [a, done] = std::move(reservations.front());
        reservations.pop_front();
        done(granted(a));
    }
    void fail_next() {
        auto [a, done] = std::move(reservations.front());
        reservations.pop_front();
        done(llmp::fail("redis_unavailable", "gone"));
    }

    // Stream slots: per key, the held names and until when (the streams-in-flight set).
    std::map<std::string, std::map<std::string, std::int64_t>> slots;
    std::deque<std::pair<slot_args, slots_done>> slot_asks;
    int releases = 0;
    void reserve_slots(slot_args a, slots_done done) override {
        if (!is_up) {
            done(llmp::fail("redis_unavailable", "gone"));
            return;
        }
        if (instant) {
            done(slots_granted(a));
            return;
        }
        slot_asks.emplace_back(std::move(a), std::move(done));
    }
    void renew_slots(slot_args a, slots_done done) override {
        auto& set = slots[a.key_id];
        std::int64_t held = 0;
        for (const auto& n : a.names) {
            if (auto it = set.find(n); it != set.end() && it->second > a.now_ms) {
                it->second = a.until_ms;
                ++held;
            }
        }
        done(slot_grant{held, std::ssize(set)});
    }
    bool release_slots(slot_args a) override {
        if (!is_up) {
            return false;
        }
        ++releases;
        for (const auto& n : a.names) {
            slots[a.key_id].erase(n);
        }
        return true;
    }
    slot_grant slots_granted(const slot_args& a) {
        auto& set = slots[a.key_id];
        std::erase_if(set, [&](const auto& e) { return e.second <= a.now_ms; });
        slot_grant g;
        for (const auto& n : a.names) {
            if (std::ssize(set) >= a.cap) {
                break;
            }
            set[n] = a.until_ms;
            ++g.granted;
        }
        g.in_flight = std::ssize(set);
        return g;
    }
    void grant_slots() {
        auto [a, done] = std::move(slot_asks.front());
        slot_asks.pop_front();
        done(slots_granted(a));
    }
};

/// The per-request admission of the store, as before leases (for the tests of it).
limiter_config one_by_one() {
    limiter_config c;
    c.min_lease = 0;
    c.lease_streams = false;
    return c;
}

TEST(limiter, without_a_shared_store_counts_in_process) {
    std::int64_t now = t0;
    limiter lim{{}, nullptr, [&] { return now; }};
    std::optional<limit_decision> got;
    lim.admit(args(rpm(1), now), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->shared);
    EXPECT_EQ(got->refused, limit_kind::none);
    lim.admit(args(rpm(1), now), [&](limit_decision d) { got = d; });
    EXPECT_EQ(got->refused, limit_kind::requests);
    EXPECT_EQ(lim.stats().refused[static_cast<std::size_t>(limit_kind::requests)].load(), 1u);
    EXPECT_FALSE(lim.shared_up());
}

TEST(limiter, uses_the_shared_store_while_it_is_up_and_finishes_there) {
    fake_shared shared;
    limiter lim{one_by_one(), &shared, [] { return t0; }};
    std::optional<limit_decision> got;
    lim.admit(args(rpm(5), t0, "a"), [&](limit_decision d) { got = d; });
    EXPECT_FALSE(got);  // waits for the store
    shared.answer();
    ASSERT_TRUE(got);
    EXPECT_TRUE(got->shared);
    EXPECT_EQ(got->now.requests, 1);
    lim.finish(*got, "k1", "a", 42);
    ASSERT_EQ(shared.finished.size(), 1u);
    EXPECT_EQ(shared.finished[0].tokens, 42);
}

TEST(limiter, a_failed_or_down_store_falls_back_to_local_counts) {
    fake_shared shared;
    limiter lim{one_by_one(), &shared, [] { return t0; }};
    std::optional<limit_decision> got;
    lim.admit(args(rpm(1), t0, "a"), [&](limit_decision d) { got = d; });
    shared.fail();
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->shared);
    EXPECT_EQ(got->refused, limit_kind::none);
    shared.is_up = false;
    got.reset();
    lim.admit(args(rpm(1), t0, "b"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);  // inline: nothing waits for a store that is down
    EXPECT_EQ(got->refused, limit_kind::requests);
    EXPECT_EQ(lim.stats().local_admissions.load(), 2u);
    // Admitted in Redis, finished while it is down: charged locally instead.
    limit_decision d;
    d.shared = true;
    lim.finish(d, "k1", "c", 7);
    EXPECT_TRUE(shared.finished.empty());
}

// A lease: the key's first request waits for a reservation of itself plus one ahead; the next
// is admitted here without the store, and a refill goes out for the one after.
TEST(limiter, a_lease_admits_without_asking_the_store_and_refills_ahead) {
    fake_shared shared;
    std::int64_t now = t0;
    limiter lim{{}, &shared, [&] { return now; }};
    std::optional<limit_decision> got;
    lim.admit(args(rpm(6000), now, "a"), [&](limit_decision d) { got = d; });
    EXPECT_FALSE(got);
    ASSERT_EQ(shared.reservations.size(), 1u);
    EXPECT_EQ(shared.reservations.front().first.want, 2);  // itself and one ahead
    EXPECT_TRUE(shared.pending.empty()) << "not the per-request admission";
    shared.grant_next();
    ASSERT_TRUE(got);
    EXPECT_TRUE(got->shared);
    EXPECT_TRUE(got->leased);
    EXPECT_EQ(got->now.requests, 1) << "counted in the store, less the one still in hand";
    EXPECT_TRUE(shared.reservations.empty()) << "one in hand: no refill yet";

    got.reset();
    lim.admit(args(rpm(6000), now, "b"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got) << "decided inline, from the lease";
    EXPECT_EQ(got->refused, limit_kind::none);
    EXPECT_EQ(got->now.requests, 2);
    ASSERT_EQ(shared.reservations.size(), 1u) << "the lease is empty: a refill goes out ahead of the next request";
    shared.grant_next();
    got.reset();
    lim.admit(args(rpm(6000), now, "c"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->refused, limit_kind::none);
    EXPECT_EQ(lim.stats().leased_admissions.load(), 3u);
    EXPECT_EQ(lim.stats().reservations.load(), 2u);
}

// Requests that had to wait double the batch, up to 1/50 of the key's requests per minute.
TEST(limiter, the_batch_grows_while_requests_wait_up_to_its_share_of_the_limit) {
    fake_shared shared;
    limiter lim{{}, &shared, [] { return t0; }};
    int admitted = 0;
    for (int i = 0; i < 3; ++i) {
        lim.admit(args(rpm(100), t0, "w" + std::to_string(i)),
                  [&](limit_decision d) { admitted += d.refused == limit_kind::none ? 1 : 0; });
    }
    ASSERT_EQ(shared.reservations.size(), 1u) << "one reservation for all who wait";
    EXPECT_EQ(shared.reservations.front().first.want, 2);  // the first waiter and one ahead
    shared.grant_next();
    EXPECT_EQ(admitted, 2);
    ASSERT_EQ(shared.reservations.size(), 1u) << "the one still waiting gets a reservation of its own";
    EXPECT_EQ(shared.reservations.front().first.want, 2 + 1) << "batch 2 (capped at 100 / 50) and the waiter";
    shared.grant_next();
    EXPECT_EQ(admitted, 3);
}

// A lease used up within lease_horizon (200 ms) is followed by one twice as big; a key that
// comes seldom keeps reserving one at a time.
TEST(limiter, the_batch_grows_while_leases_last_under_the_horizon) {
    fake_shared shared;
    shared.instant = true;
    std::int64_t now = t0;
    limiter lim{{}, &shared, [&] { return now; }};
    for (int i = 0; i < 200; ++i, now += 1) {  // 1000 requests a second
        lim.admit(args(rpm(60'000), now, "f" + std::to_string(i)), [](limit_decision) {});
    }
    EXPECT_LE(lim.stats().reservations.load(), 10u);
    EXPECT_EQ(lim.stats().leased_admissions.load(), 200u);
    for (int i = 0; i < 20; ++i, now += 1000) {  // one a second
        auto a = args(rpm(60'000), now, "s" + std::to_string(i));
        a.key_id = "slow";
        lim.admit(a, [](limit_decision) {});
    }
    EXPECT_GE(lim.stats().reservations.load(), 10u + 19u) << "one reservation per request, ahead of it";
}

// Two servers, each with its own lease, share a 60 RPM key: the fleet admits 60, refusals once
// the store has said so need no round trip, and a new window starts afresh.
TEST(limiter, two_servers_with_leases_admit_the_limit_between_them) {
    fake_shared shared;
    shared.instant = true;
    std::int64_t now = t0;
    limiter a{{}, &shared, [&] { return now; }};
    limiter b{{}, &shared, [&] { return now; }};
    int admitted = 0;
    std::int64_t last_remaining_count = 0;
    for (int i = 0; i < 100; ++i) {
        (i % 2 ? a : b).admit(args(rpm(60), now, "r" + std::to_string(i)), [&](limit_decision d) {
            admitted += d.refused == limit_kind::none ? 1 : 0;
            last_remaining_count = d.now.requests;
        });
    }
    EXPECT_EQ(admitted, 60);
    EXPECT_EQ(last_remaining_count, 60);
    EXPECT_EQ((shared.fleet[{"k1", t0 / 60'000}].requests), 60);
    const auto reservations = a.stats().reservations.load() + b.stats().reservations.load();
    EXPECT_LE(reservations, 62u) << "at most one per request admitted, and none per refusal";
    a.admit(args(rpm(60), now, "late"), [](limit_decision d) { EXPECT_EQ(d.refused, limit_kind::requests); });
    EXPECT_EQ(a.stats().reservations.load() + b.stats().reservations.load(), reservations);

    now += 60'000;  // the next window
    std::optional<limit_decision> got;
    a.admit(args(rpm(60), now, "next"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->refused, limit_kind::none);
    EXPECT_EQ(got->now.requests, 1);
}

// Tokens: charged to the lease at once (this server's next admission refuses past the limit
// with no round trip) and to the store through charge(), not finish().
TEST(limiter, leased_tokens_are_charged_here_at_once_and_in_the_store) {
    fake_shared shared;
    shared.instant = true;
    limiter lim{{}, &shared, [] { return t0; }};
    keys::key_limits l;
    l.tokens_per_day = 100;
    std::optional<limit_decision> got;
    lim.admit(args(l, t0, "a"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    ASSERT_TRUE(got->leased) << "a key with token limits only is leased too";
    lim.finish(*got, "k1", "a", 120);
    EXPECT_TRUE(shared.finished.empty());
    ASSERT_EQ(shared.charged.size(), 1u);
    EXPECT_EQ(shared.charged[0].tokens, 120);
    lim.admit(args(l, t0 + 1, "b"), [&](limit_decision d) { got = d; });
    EXPECT_EQ(got->refused, limit_kind::daily_tokens);
    EXPECT_EQ(got->now.day_tokens, 120);
    // The key's limit lifted: admitted again from what is in hand.
    keys::key_limits lifted;
    lifted.tokens_per_day = 1000;
    lim.admit(args(lifted, t0 + 2, "c"), [&](limit_decision d) { got = d; });
    EXPECT_EQ(got->refused, limit_kind::none);
    // A request that used no tokens charges nothing.
    lim.finish(*got, "k1", "c", 0);
    EXPECT_EQ(shared.charged.size(), 1u);
}

TEST(limiter, the_days_tokens_outlive_the_minute_that_counted_them) {
    // After the minute turns, the store's answer may lack this server's last charges (they reach
    // it merged, later): what this server counted today still refuses a spent daily budget.
    fake_shared shared;
    shared.instant = true;
    std::int64_t now = t0;  // 21:00 UTC: the next minute is the same day
    limiter lim{{}, &shared, [&] { return now; }};
    keys::key_limits l;
    l.tokens_per_day = 20;
    std::optional<limit_decision> got;
    lim.admit(args(l, now, "a"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got && got->leased);
    now = t0 + 60'000;
    lim.finish(*got, "k1", "a", 25);  // it ends in the next minute
    shared.fleet.clear();             // the store has not got the charge yet
    got.reset();
    lim.admit(args(l, now, "b"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->refused, limit_kind::daily_tokens);
    EXPECT_EQ(got->now.day_tokens, 25);
    // A new day starts from what the store says.
    now = t0 + 4 * 3'600'000;
    got.reset();
    lim.admit(args(l, now, "c"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->refused, limit_kind::none);
}

TEST(limiter, stream_caps_and_small_limits_are_admitted_one_by_one_when_configured) {
    fake_shared shared;
    limiter lim{one_by_one(), &shared, [] { return t0; }};
    keys::key_limits streams = rpm(6000);
    streams.max_streams = 4;
    lim.admit(args(streams, t0, "a"), [](limit_decision) {});
    lim.admit(args(rpm(49), t0, "b"), [](limit_decision) {});
    EXPECT_EQ(shared.pending.size(), 2u);
    EXPECT_TRUE(shared.reservations.empty());
}

// Under 50 RPM the share rounds to 0: a lease of one, reserved ahead like any other.
TEST(limiter, a_small_limit_leases_one_request_ahead) {
    fake_shared shared;
    shared.instant = true;
    std::int64_t now = t0;
    limiter lim{{}, &shared, [&] { return now; }};
    int admitted = 0;
    for (int i = 0; i < 12; ++i, now += 100) {
        lim.admit(args(rpm(10), now, "s" + std::to_string(i)),
                  [&](limit_decision d) { admitted += d.refused == limit_kind::none ? 1 : 0; });
    }
    EXPECT_EQ(admitted, 10);
    EXPECT_TRUE(shared.pending.empty()) << "no per-request admission";
    EXPECT_EQ(lim.stats().leased_admissions.load(), 12u);
    EXPECT_EQ((shared.fleet[{"k1", t0 / 60'000}].requests), 10);
}

// Two servers, a 10 RPM key, requests alternating: the fleet admits 10; what one server may
// hold unused at the window's end is one request (its lease of one).
TEST(limiter, two_servers_share_a_small_limit_within_one_request_each) {
    fake_shared shared;
    shared.instant = true;
    std::int64_t now = t0;
    limiter a{{}, &shared, [&] { return now; }};
    limiter b{{}, &shared, [&] { return now; }};
    int admitted = 0;
    for (int i = 0; i < 30; ++i, now += 1000) {
        (i % 2 ? a : b).admit(args(rpm(10), now, "r" + std::to_string(i)), [&](limit_decision d) {
            admitted += d.refused == limit_kind::none ? 1 : 0;
        });
    }
    EXPECT_GE(admitted, 8);
    EXPECT_LE(admitted, 10);
}

// In the last part of a window an admission reserves the next window's first batch: the next
// window's first request is decided here, without waiting.
TEST(limiter, the_next_windows_lease_is_reserved_before_it_starts) {
    fake_shared shared;
    std::int64_t now = t0 + 45'000;
    limiter lim{{}, &shared, [&] { return now; }};
    std::optional<limit_decision> got;
    lim.admit(args(rpm(6000), now, "a"), [&](limit_decision d) { got = d; });
    shared.grant_next();
    ASSERT_TRUE(got);
    EXPECT_TRUE(shared.reservations.empty()) << "15 s left: not yet";
    now = t0 + 55'000;
    lim.admit(args(rpm(6000), now, "b"), [&](limit_decision d) { got = d; });  // the one in hand
    // A refill for this window and the next window's batch.
    ASSERT_EQ(shared.reservations.size(), 2u);
    EXPECT_EQ(shared.reservations.back().first.now_ms, t0 + 60'000);
    shared.grant_next();
    shared.grant_next();
    EXPECT_EQ((shared.fleet[{"k1", t0 / 60'000 + 1}].requests), 1) << "the batch, counted in the next window";
    now = t0 + 60'010;
    got.reset();
    lim.admit(args(rpm(6000), now, "c"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got) << "decided inline from the lease reserved ahead";
    EXPECT_EQ(got->refused, limit_kind::none);
    EXPECT_EQ(got->now.requests, 1);
    EXPECT_EQ(got->w.minute, t0 / 60'000 + 1);
}

keys::key_limits cap(std::int64_t n) {
    keys::key_limits l;
    l.max_streams = n;
    return l;
}

// A stream cap: the first stream waits for its slot and one of headroom; the next takes the
// free one here (and asks for more off the path); a stream's end gives its slot back to this
// server, which keeps up to twice the headroom free and gives the rest back to Redis.
TEST(limiter, stream_slots_are_held_here_and_reused) {
    fake_shared shared;
    std::int64_t now = t0;
    limiter lim{{}, &shared, [&] { return now; }};
    std::optional<limit_decision> got;
    lim.admit(args(cap(4), now, "a"), [&](limit_decision d) { got = d; });
    EXPECT_FALSE(got);
    ASSERT_EQ(shared.slot_asks.size(), 1u);
    EXPECT_EQ(shared.slot_asks.front().first.names.size(), 2u) << "its slot and one ahead";
    shared.grant_slots();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->refused, limit_kind::none);
    EXPECT_TRUE(got->slot);
    EXPECT_TRUE(shared.pending.empty()) << "no per-request admission";
    const auto first = *got;
    got.reset();
    lim.admit(args(cap(4), now, "b"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got) << "the free held slot, decided inline";
    EXPECT_TRUE(got->slot);
    ASSERT_EQ(shared.slot_asks.size(), 1u) << "headroom asked for off the path";
    shared.grant_slots();
    EXPECT_EQ(lim.held_slots_for_test("k1"), 3);
    lim.finish(first, "k1", "a", 0);
    lim.finish(*got, "k1", "b", 0);
    EXPECT_EQ(lim.held_slots_for_test("k1"), 2) << "the one beyond twice the headroom went back at once";
    EXPECT_EQ(shared.releases, 1);
    // Back-to-back streams reuse the held slots without the store.
    for (int i = 0; i < 10; ++i) {
        got.reset();
        lim.admit(args(cap(4), now, "c" + std::to_string(i)), [&](limit_decision d) { got = d; });
        ASSERT_TRUE(got);
        lim.finish(*got, "k1", "c" + std::to_string(i), 0);
    }
    EXPECT_TRUE(shared.slot_asks.empty());
    // Unused for slot_linger: back to Redis.
    now += 499;
    lim.tick();
    EXPECT_EQ(lim.held_slots_for_test("k1"), 2);
    now += 1;
    lim.tick();
    EXPECT_EQ(lim.held_slots_for_test("k1"), 0);
    EXPECT_TRUE(shared.slots["k1"].empty());
}

// The cap holds across servers: one server's streams and headroom leave the other what is left.
TEST(limiter, a_stream_cap_holds_across_two_servers) {
    fake_shared shared;
    shared.instant = true;
    std::int64_t now = t0;
    limiter a{{}, &shared, [&] { return now; }};
    limiter b{{}, &shared, [&] { return now; }};
    std::vector<std::pair<limiter*, limit_decision>> open;
    int refused = 0;
    for (int i = 0; i < 10; ++i) {
        auto* server = i % 2 ? &a : &b;
        server->admit(args(cap(3), now, "s" + std::to_string(i)), [&, server](limit_decision d) {
            if (d.refused == limit_kind::streams) {
                ++refused;
            } else {
                open.emplace_back(server, d);
            }
        });
    }
    EXPECT_EQ(open.size(), 3u);
    EXPECT_EQ(refused, 7);
    EXPECT_EQ(std::ssize(shared.slots["k1"]), 3);
    // The streams end: free slots linger on their server, then go back.
    for (auto& [server, d] : open) {
        server->finish(d, "k1", "x", 0);
    }
    now += 500;
    a.tick();
    b.tick();
    EXPECT_TRUE(shared.slots["k1"].empty());
    std::optional<limit_decision> got;
    b.admit(args(cap(3), now, "late"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->refused, limit_kind::none);
}

// One server holds the whole cap and uses it: its next stream is refused at once, without
// asking the store (which could only say the same).
TEST(limiter, a_server_holding_the_whole_cap_refuses_without_asking) {
    fake_shared shared;
    limiter lim{{}, &shared, [] { return t0; }};
    int admitted = 0;
    int refused = 0;
    for (int i = 0; i < 3; ++i) {
        lim.admit(args(cap(2), t0, "s" + std::to_string(i)),
                  [&](limit_decision d) { ++(d.refused == limit_kind::none ? admitted : refused); });
    }
    ASSERT_EQ(shared.slot_asks.size(), 1u);
    shared.grant_slots();  // 2 asked (the first and its headroom), 2 granted
    EXPECT_EQ(admitted, 2);
    EXPECT_EQ(refused, 1) << "the third waited with them: the cap is this server's, all in use";
    EXPECT_TRUE(shared.slot_asks.empty());
    lim.admit(args(cap(2), t0, "s3"),
              [&](limit_decision d) { ++(d.refused == limit_kind::none ? admitted : refused); });
    EXPECT_EQ(refused, 2);
    EXPECT_TRUE(shared.slot_asks.empty()) << "no round trip for a refusal this server can make";
}

// Held slots are renewed before they expire; a renewal that finds some gone (Redis lost them)
// forgets them all, and a stream that held one finishes as a no-op.
TEST(limiter, held_slots_are_renewed_and_forgotten_when_lost) {
    fake_shared shared;
    shared.instant = true;
    std::int64_t now = t0;
    limiter lim{{}, &shared, [&] { return now; }};
    std::optional<limit_decision> got;
    lim.admit(args(cap(2), now, "a"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got && got->slot);
    now += 4'000;  // a third of slot_ttl (10 s)
    lim.tick();
    EXPECT_EQ(shared.slots["k1"].begin()->second, now + 10'000);
    shared.slots.clear();  // Redis restarted empty
    now += 4'000;
    lim.tick();
    EXPECT_EQ(lim.held_slots_for_test("k1"), 0);
    lim.finish(*got, "k1", "a", 0);  // a no-op: nothing held
    EXPECT_EQ(lim.held_slots_for_test("k1"), 0);
}

// A stream cap with a requests-per-minute limit: the slot first, then the lease; a refusal of
// the lease gives the slot back.
TEST(limiter, a_stream_cap_and_a_request_limit_together) {
    fake_shared shared;
    shared.instant = true;
    limiter lim{{}, &shared, [] { return t0; }};
    auto l = cap(10);
    l.requests_per_minute = 2;
    int ok = 0;
    int refused_requests = 0;
    for (int i = 0; i < 4; ++i) {
        lim.admit(args(l, t0, "r" + std::to_string(i)), [&](limit_decision d) {
            ok += d.refused == limit_kind::none ? 1 : 0;
            refused_requests += d.refused == limit_kind::requests ? 1 : 0;
            EXPECT_EQ(d.slot, d.refused == limit_kind::none);
        });
    }
    EXPECT_EQ(ok, 2);
    EXPECT_EQ(refused_requests, 2);
}

// Redis fails a slot reservation: its waiters are counted here, the pool starts over.
TEST(limiter, a_failed_slot_reservation_counts_its_waiters_here) {
    fake_shared shared;
    limiter lim{{}, &shared, [] { return t0; }};
    std::optional<limit_decision> got;
    lim.admit(args(cap(2), t0, "a"), [&](limit_decision d) { got = d; });
    auto [asked, done] = std::move(shared.slot_asks.front());
    shared.slot_asks.pop_front();
    done(llmp::fail("redis_unavailable", "gone"));
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->shared);
    EXPECT_FALSE(got->slot);
    EXPECT_EQ(got->refused, limit_kind::none);
}

TEST(limiter, a_failed_reservation_counts_its_waiters_here) {
    fake_shared shared;
    limiter lim{{}, &shared, [] { return t0; }};
    std::optional<limit_decision> got;
    lim.admit(args(rpm(6000), t0, "a"), [&](limit_decision d) { got = d; });
    shared.fail_next();
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->shared);
    EXPECT_FALSE(got->leased);
    EXPECT_EQ(lim.stats().local_admissions.load(), 1u);
    // Down: local counts at once, no reservation.
    shared.is_up = false;
    got.reset();
    lim.admit(args(rpm(6000), t0, "b"), [&](limit_decision d) { got = d; });
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->shared);
    EXPECT_TRUE(shared.reservations.empty());
    // Admitted from a lease, finished while the store is down: charged locally.
    limit_decision d;
    d.shared = true;
    d.leased = true;
    lim.finish(d, "k1", "c", 7);
    EXPECT_TRUE(shared.charged.empty());
}

// A reservation answered after its window ended grants nothing usable: the waiter gets one for
// the new window.
TEST(limiter, a_reservation_for_an_ended_window_is_not_used) {
    fake_shared shared;
    std::int64_t now = t0 + 59'999;
    limiter lim{{}, &shared, [&] { return now; }};
    std::optional<limit_decision> got;
    lim.admit(args(rpm(6000), now, "a"), [&](limit_decision d) { got = d; });
    now = t0 + 60'000;
    shared.grant_next();
    EXPECT_FALSE(got);
    ASSERT_EQ(shared.reservations.size(), 1u);
    EXPECT_EQ(shared.reservations.front().first.now_ms, t0 + 60'000);
    shared.grant_next();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->refused, limit_kind::none);
}

}  // namespace
}  // namespace llmp::limits

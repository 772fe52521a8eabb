// redis_store against the suite's Redis (LLMPROXY_TEST_REDIS_URL, set by scripts/test): two
// stores stand for two API servers sharing one Redis.
#include "limits/redis_store.hpp"

#include "common/ids.hpp"
#include "limits/limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <thread>
#include <vector>

namespace llmp::limits {
namespace {

#define LLMP_REQUIRE_REDIS()                                                         \
    const char* redis_url = std::getenv("LLMPROXY_TEST_REDIS_URL");                  \
    if (redis_url == nullptr) {                                                      \
        GTEST_SKIP() << "LLMPROXY_TEST_REDIS_URL is not set (scripts/test sets it)"; \
    }

std::unique_ptr<redis_store> connected(const std::string& url) {
    redis_options o;
    o.url = url;
    o.timeout = std::chrono::milliseconds{2000};  // a loaded CI machine; production uses 250
    auto s = redis_store::create(o);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    s.value()->start();
    EXPECT_TRUE(s.value()->wait_connected(std::chrono::seconds{10}));
    return std::move(s.value());
}

result<admission> admit_sync(redis_store& s, admit_args a) {
    std::promise<result<admission>> p;
    auto f = p.get_future();
    s.admit(std::move(a), [&p](result<admission> r) { p.set_value(std::move(r)); });
    return f.get();
}

admit_args args_for(const std::string& key_id, const keys::key_limits& l, std::string request_id) {
    admit_args a;
    a.key_id = key_id;
    a.limits = l;
    a.request_id = std::move(request_id);
    a.now_ms = unix_ms();
    a.lease_until_ms = a.now_ms + 60'000;
    a.window_ms = 3'600'000;  // one window for the whole test
    return a;
}

TEST(redis_url, parses_host_port_password_and_db) {
    auto a = parse_redis_url("redis://:secret@10.0.0.5:6380/2");
    ASSERT_TRUE(a);
    EXPECT_EQ(a.value().host, "10.0.0.5");
    EXPECT_EQ(a.value().port, 6380);
    EXPECT_EQ(a.value().password, "secret");
    EXPECT_EQ(a.value().db, 2);
    auto d = parse_redis_url("redis://cache");
    ASSERT_TRUE(d);
    EXPECT_EQ(d.value().port, 6379);
    EXPECT_FALSE(parse_redis_url("http://x"));
    EXPECT_FALSE(parse_redis_url("redis://x:port"));
}

TEST(redis_store, two_servers_admit_exactly_the_limit_between_them) {
    LLMP_REQUIRE_REDIS();
    auto a = connected(redis_url);
    auto b = connected(redis_url);
    const auto key = new_uuid();
    keys::key_limits l;
    l.requests_per_minute = 60;
    std::atomic<int> admitted{0};
    std::atomic<int> refused{0};
    auto burst = [&](redis_store& s, int n) {
        std::vector<std::future<result<admission>>> all;
        std::vector<std::shared_ptr<std::promise<result<admission>>>> ps;
        for (int i = 0; i < n; ++i) {
            auto p = std::make_shared<std::promise<result<admission>>>();
            all.push_back(p->get_future());
            s.admit(args_for(key, l, new_uuid()), [p](result<admission> r) { p->set_value(std::move(r)); });
        }
        for (auto& f : all) {
            auto r = f.get();
            ASSERT_TRUE(r) << r.error().message;
            ++(r.value().refused == limit_kind::none ? admitted : refused);
        }
    };
    std::thread ta{[&] { burst(*a, 100); }};
    std::thread tb{[&] { burst(*b, 100); }};
    ta.join();
    tb.join();
    EXPECT_EQ(admitted.load(), 60);
    EXPECT_EQ(refused.load(), 140);
}

TEST(redis_store, streams_and_tokens_are_shared_and_released) {
    LLMP_REQUIRE_REDIS();
    auto a = connected(redis_url);
    auto b = connected(redis_url);
    const auto key = new_uuid();
    keys::key_limits l;
    l.max_streams = 1;
    l.tokens_per_day = 100;
    auto first = admit_sync(*a, args_for(key, l, "r1"));
    ASSERT_TRUE(first);
    EXPECT_EQ(first.value().refused, limit_kind::none);
    EXPECT_EQ(first.value().now.streams, 1);
    auto second = admit_sync(*b, args_for(key, l, "r2"));
    ASSERT_TRUE(second);
    EXPECT_EQ(second.value().refused, limit_kind::streams);
    // r1 ends on server a having used 150 tokens: the stream is free, the day's budget spent.
    ASSERT_TRUE(a->finish({key, "r1", 150, unix_ms(), 3'600'000}));
    result<admission> third = fail("none", "");
    // The finish is queued on a's thread; b sees it once Redis has it.
    for (int i = 0; i < 200; ++i) {
        third = admit_sync(*b, args_for(key, l, "r3"));
        ASSERT_TRUE(third);
        if (third.value().now.day_tokens == 150) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    EXPECT_EQ(third.value().refused, limit_kind::daily_tokens);
    EXPECT_EQ(third.value().now.streams, 0);
}

result<grant> reserve_sync(redis_store& s, reserve_args a) {
    std::promise<result<grant>> p;
    auto f = p.get_future();
    s.reserve(std::move(a), [&p](result<grant> r) { p.set_value(std::move(r)); });
    return f.get();
}

reserve_args reserve_for(const std::string& key_id, const keys::key_limits& l, std::int64_t want) {
    reserve_args a;
    a.key_id = key_id;
    a.limits = l;
    a.want = want;
    a.now_ms = unix_ms();
    a.window_ms = 3'600'000;
    return a;
}

// Leases from two servers: batches are granted until the limit, the last one partly, then none.
TEST(redis_store, reservations_from_two_servers_grant_exactly_the_limit) {
    LLMP_REQUIRE_REDIS();
    auto a = connected(redis_url);
    auto b = connected(redis_url);
    const auto key = new_uuid();
    keys::key_limits l;
    l.requests_per_minute = 60;
    std::int64_t total = 0;
    for (int i = 0; i < 10; ++i) {
        auto g = reserve_sync(i % 2 ? *a : *b, reserve_for(key, l, 7));
        ASSERT_TRUE(g) << g.error().message;
        total += g.value().granted;
        EXPECT_EQ(g.value().now.requests, total);
        if (i == 8) {
            EXPECT_EQ(g.value().granted, 4) << "the rest of the limit";
        }
        if (i == 9) {
            EXPECT_EQ(g.value().granted, 0);
            EXPECT_EQ(g.value().refused, limit_kind::requests);
        }
    }
    EXPECT_EQ(total, 60);
    // The per-request admission sees the same counter.
    auto one = admit_sync(*a, args_for(key, l, "r"));
    ASSERT_TRUE(one);
    EXPECT_EQ(one.value().refused, limit_kind::requests);
}

// Charges of one key merge into one command and reach Redis within the charge delay; the next
// reservation (from another server) sees them and is refused by the budget.
TEST(redis_store, charges_land_merged_and_refuse_the_next_reservation) {
    LLMP_REQUIRE_REDIS();
    auto a = connected(redis_url);
    auto b = connected(redis_url);
    const auto key = new_uuid();
    keys::key_limits l;
    l.tokens_per_day = 30;
    auto first = reserve_sync(*b, reserve_for(key, l, 4));
    ASSERT_TRUE(first);
    EXPECT_EQ(first.value().granted, 4);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(a->charge({key, "", 10, unix_ms(), 3'600'000}));
    }
    result<grant> seen = fail("none", "");
    for (int i = 0; i < 200; ++i) {  // the charges leave a's thread within charge_delay (100 ms)
        seen = reserve_sync(*b, reserve_for(key, l, 1));
        ASSERT_TRUE(seen);
        if (seen.value().now.day_tokens == 30) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    EXPECT_EQ(seen.value().now.day_tokens, 30);
    EXPECT_EQ(seen.value().refused, limit_kind::daily_tokens);
    EXPECT_EQ(seen.value().granted, 0);
}

// Two limiters (two API servers) with leases on one Redis: one client alternating between them
// gets exactly the limit, most of it admitted without a round trip.
TEST(redis_store, two_limiters_with_leases_admit_the_limit_between_them) {
    LLMP_REQUIRE_REDIS();
    auto a = connected(redis_url);
    auto b = connected(redis_url);
    limiter la{{std::chrono::milliseconds{3'600'000}}, a.get()};
    limiter lb{{std::chrono::milliseconds{3'600'000}}, b.get()};
    const auto key = new_uuid();
    keys::key_limits l;
    l.requests_per_minute = 60;
    int admitted = 0;
    for (int i = 0; i < 100; ++i) {
        std::promise<limit_decision> p;
        auto args = args_for(key, l, new_uuid());
        (i % 2 ? la : lb).admit(args, [&p](limit_decision d) { p.set_value(d); });
        auto d = p.get_future().get();
        EXPECT_TRUE(d.shared);
        admitted += d.refused == limit_kind::none ? 1 : 0;
    }
    EXPECT_EQ(admitted, 60);
    EXPECT_GT(la.stats().leased_admissions.load() + lb.stats().leased_admissions.load(), 0u);
}

TEST(redis_store, an_unreachable_redis_is_down_and_refuses_at_once) {
    // A port nobody listens on: connect fails at once with ECONNREFUSED.
    redis_options o;
    o.url = "redis://127.0.0.1:1";
    auto s = redis_store::create(o);
    ASSERT_TRUE(s);
    s.value()->start();
    EXPECT_FALSE(s.value()->wait_connected(std::chrono::seconds{5}));
    auto r = admit_sync(*s.value(), args_for("k", keys::key_limits{}, "r"));
    EXPECT_FALSE(r);
    EXPECT_FALSE(s.value()->finish({"k", "r", 1, unix_ms(), 60'000}));
    EXPECT_FALSE(s.value()->charge({"k", "", 1, unix_ms(), 60'000}));
    // The limiter over it counts locally.
    limiter lim{{}, s.value().get()};
    std::promise<limit_decision> p;
    keys::key_limits l;
    l.requests_per_minute = 1;
    lim.admit(args_for("k", l, "r"), [&p](limit_decision d) { p.set_value(d); });
    auto d = p.get_future().get();
    EXPECT_FALSE(d.shared);
    EXPECT_EQ(d.refused, limit_kind::none);
}

}  // namespace
}  // namespace llmp::limits

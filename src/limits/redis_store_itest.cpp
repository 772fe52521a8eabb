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

limit_decision admit_sync(limiter& lim, admit_args a) {
    std::promise<limit_decision> p;
    lim.admit(std::move(a), [&p](limit_decision d) { p.set_value(d); });
    return p.get_future().get();
}

result<slot_grant> slots_sync(redis_store& s, slot_args a, bool renew) {
    std::promise<result<slot_grant>> p;
    auto done = [&p](result<slot_grant> g) { p.set_value(std::move(g)); };
    renew ? s.renew_slots(std::move(a), done) : s.reserve_slots(std::move(a), done);
    return p.get_future().get();
}

// The slot scripts: two servers never hold more than the cap between them, a renewal keeps
// only what is still held, a release frees at once and an unrenewed slot expires.
TEST(redis_store, stream_slots_from_two_servers_never_exceed_the_cap) {
    LLMP_REQUIRE_REDIS();
    auto a = connected(redis_url);
    auto b = connected(redis_url);
    const auto key = new_uuid();
    const auto now = unix_ms();
    auto ask = [&](std::vector<std::string> names, std::int64_t until) {
        slot_args s;
        s.key_id = key;
        s.cap = 3;
        s.names = std::move(names);
        s.now_ms = unix_ms();
        s.until_ms = until;
        return s;
    };
    auto ga = slots_sync(*a, ask({"a:1", "a:2"}, now + 60'000), false);
    ASSERT_TRUE(ga) << ga.error().message;
    EXPECT_EQ(ga.value().granted, 2);
    auto gb = slots_sync(*b, ask({"b:1", "b:2"}, now + 1'000), false);
    ASSERT_TRUE(gb);
    EXPECT_EQ(gb.value().granted, 1) << "the cap leaves one";
    EXPECT_EQ(gb.value().in_flight, 3);
    // a gives one back (on a's connection, asynchronously): then b can take it. A renewal on
    // a's connection is answered after the ZREM went through.
    ASSERT_TRUE(a->release_slots(ask({"a:2"}, 0)));
    ASSERT_TRUE(slots_sync(*a, ask({}, now + 60'000), true));
    gb = slots_sync(*b, ask({"b:3"}, now + 1'000), false);
    ASSERT_TRUE(gb);
    EXPECT_EQ(gb.value().granted, 1);
    // A renewal of a held and a never-held slot keeps the held one only.
    auto r = slots_sync(*a, ask({"a:1", "a:9"}, now + 120'000), true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.value().granted, 1);
    EXPECT_EQ(r.value().in_flight, 3);
    // b's slots expire at now + 1 s unrenewed (a server that died): then free for anyone.
    std::int64_t granted = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (granted < 2 && std::chrono::steady_clock::now() < deadline) {
        auto g = slots_sync(*a, ask({"a:3", "a:4"}, now + 60'000), false);
        ASSERT_TRUE(g);
        granted = g.value().granted;
        if (granted < 2) {
            ASSERT_TRUE(a->release_slots(ask({"a:3"}, 0)));              // not yet expired: give back what it got
            ASSERT_TRUE(slots_sync(*a, ask({}, now + 60'000), true));    // the ZREM went through
            std::this_thread::sleep_for(std::chrono::milliseconds{50});  // polling Redis' clock, not a guess
        }
    }
    EXPECT_EQ(granted, 2) << "b's unrenewed slots expired";
}

// Two limiters (two API servers) with stream slots on one Redis: the cap holds across them,
// streams that end give their slots back (here, after the linger), and the other server can
// then use the whole cap.
TEST(redis_store, two_limiters_hold_a_stream_cap_between_them) {
    LLMP_REQUIRE_REDIS();
    auto a = connected(redis_url);
    auto b = connected(redis_url);
    limiter_config cfg;
    cfg.window = std::chrono::milliseconds{3'600'000};
    cfg.slot_linger = std::chrono::milliseconds{0};
    limiter la{cfg, a.get()};
    limiter lb{cfg, b.get()};
    const auto key = new_uuid();
    keys::key_limits l;
    l.max_streams = 3;
    l.requests_per_minute = 1000;
    std::vector<std::pair<limiter*, limit_decision>> open;
    int refused = 0;
    for (int i = 0; i < 8; ++i) {
        auto* server = i % 2 ? &la : &lb;
        auto d = admit_sync(*server, args_for(key, l, new_uuid()));
        EXPECT_TRUE(d.shared);
        if (d.refused == limit_kind::streams) {
            ++refused;
        } else {
            EXPECT_EQ(d.refused, limit_kind::none);
            EXPECT_TRUE(d.slot);
            open.emplace_back(server, d);
        }
    }
    EXPECT_EQ(open.size(), 3u);
    EXPECT_EQ(refused, 5);
    EXPECT_EQ(la.stats().slot_admissions.load() + lb.stats().slot_admissions.load(), 3u);
    for (auto& [server, d] : open) {
        server->finish(d, key, "x", 1);
    }
    la.tick();  // slot_linger 0: every free slot goes back
    lb.tick();
    // The releases reach Redis asynchronously: b gets the whole cap once they have.
    int ok = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (ok < 3 && std::chrono::steady_clock::now() < deadline) {
        auto d = admit_sync(lb, args_for(key, l, new_uuid()));
        if (d.refused == limit_kind::none) {
            ++ok;  // held until the end of the test
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds{20});  // waiting for the ZREMs, bounded above
        }
    }
    EXPECT_EQ(ok, 3);
    a.reset();  // the stores' threads call into the limiters: they stop first (as in the API server)
    b.reset();
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

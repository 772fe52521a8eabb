// result_cache: an answer is shared until it expires, longer for wider windows; what is due to be
// read again before it expires.

#include "monitor/result_cache.hpp"

#include <gtest/gtest.h>

namespace llmp::monitor {
namespace {

using namespace std::chrono_literals;

TEST(result_cache, shares_an_answer_until_it_expires) {
    result_cache c;
    const auto t0 = result_cache::clock::time_point{} + 1h;
    EXPECT_FALSE(c.get("/api/overview|86400|now|0", t0));
    c.put("/api/overview|86400|now|0", nlohmann::json{{"requests", 7}}, 10s, t0);
    auto hit = c.get("/api/overview|86400|now|0", t0 + 9s);
    ASSERT_TRUE(hit);
    EXPECT_EQ((*hit)["requests"], 7);
    EXPECT_FALSE(c.get("/api/overview|604800|now|0", t0 + 1s)) << "another window is another answer";
    EXPECT_FALSE(c.get("/api/overview|86400|now|0", t0 + 10s)) << "expired";
    EXPECT_EQ(c.hits(), 1u);
    EXPECT_EQ(c.misses(), 3u);
}

TEST(result_cache, keeps_wide_windows_longer_and_short_ones_for_about_a_refresh) {
    EXPECT_EQ(result_cache::ttl_for(300), 2s);
    EXPECT_EQ(result_cache::ttl_for(3600), 5s);
    EXPECT_EQ(result_cache::ttl_for(86400), 30s);
    EXPECT_EQ(result_cache::ttl_for(7 * 86400), 60s);
}

TEST(result_cache, an_answer_is_due_again_shortly_before_it_expires_only_if_it_was_read_and_kept_long) {
    result_cache c;
    const auto t0 = result_cache::clock::time_point{} + 1h;
    c.put("read", nlohmann::json(1), 30s, t0);
    c.put("unread", nlohmann::json(2), 30s, t0);
    c.put("short", nlohmann::json(3), 2s, t0);
    ASSERT_TRUE(c.get("read", t0 + 1s));
    ASSERT_TRUE(c.get("short", t0 + 1s));
    EXPECT_TRUE(c.due(t0 + 20s, 3s, 10s).empty()) << "not yet within the lead";
    EXPECT_EQ(c.due(t0 + 28s, 3s, 10s), std::vector<std::string>{"read"});
    EXPECT_TRUE(c.due(t0 + 30s, 3s, 10s).empty()) << "expired: a reader reads it itself";
    c.put("read", nlohmann::json(4), 30s, t0 + 28s);
    EXPECT_TRUE(c.due(t0 + 56s, 3s, 10s).empty()) << "stored again and not read since";
    EXPECT_TRUE(c.alive("read", t0 + 57s));
    EXPECT_FALSE(c.alive("read", t0 + 58s));
}

TEST(result_cache, serves_no_entry_past_its_life_among_many) {
    result_cache c;
    const auto t0 = result_cache::clock::time_point{} + 1h;
    for (int i = 0; i < 200; ++i) {
        c.put("k" + std::to_string(i), nlohmann::json(i), 1s, t0 + std::chrono::seconds{i});
    }
    EXPECT_TRUE(c.get("k199", t0 + 199s));
    EXPECT_FALSE(c.get("k0", t0 + 199s));
}

}  // namespace
}  // namespace llmp::monitor

// result_cache: an answer is shared until it expires; windows up to an hour are never kept.

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

TEST(result_cache, keeps_wide_windows_longer_and_short_ones_not_at_all) {
    EXPECT_EQ(result_cache::ttl_for(300).count(), 0);
    EXPECT_EQ(result_cache::ttl_for(3600).count(), 0);
    EXPECT_EQ(result_cache::ttl_for(86400), 10s);
    EXPECT_EQ(result_cache::ttl_for(7 * 86400), 30s);
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

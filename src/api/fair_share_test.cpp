#include "api/fair_share.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace llmp::api {
namespace {

TEST(fair_share, one_key_alone_is_never_lifted) {
    fair_share fs;
    std::vector<fair_share::ticket> a;
    for (int i = 0; i < 10; ++i) {
        a.push_back(fs.open("A"));
        EXPECT_FALSE(a.back().lifted()) << i;
    }
    EXPECT_EQ(fs.open_streams("A"), 10u);
}

TEST(fair_share, a_newcomer_next_to_a_flood_is_lifted_the_flood_is_not) {
    fair_share fs;
    std::vector<fair_share::ticket> flood;
    for (int i = 0; i < 500; ++i) {
        flood.push_back(fs.open("A"));
    }
    auto b = fs.open("B");
    EXPECT_TRUE(b.lifted());
    // B's second stream: 1 open of a mean of 250.5 — still below.
    auto b2 = fs.open("B");
    EXPECT_TRUE(b2.lifted());
    // A's next: 500 open of a mean of 251 — above.
    auto a = fs.open("A");
    EXPECT_FALSE(a.lifted());
}

TEST(fair_share, equal_shares_get_no_lift) {
    fair_share fs;
    auto a1 = fs.open("A");
    auto b1 = fs.open("B");  // 0 open vs a mean of 1: lifted (B had nothing)
    EXPECT_TRUE(b1.lifted());
    auto a2 = fs.open("A");  // 1 open, mean 1: not below
    EXPECT_FALSE(a2.lifted());
    auto b2 = fs.open("B");  // 1 open, mean 1.5: below
    EXPECT_TRUE(b2.lifted());
    auto c = fs.open("A");  // 2 open, mean 2: not below
    EXPECT_FALSE(c.lifted());
}

TEST(fair_share, closed_streams_stop_counting_and_a_drained_key_is_forgotten) {
    fair_share fs;
    {
        auto a = fs.open("A");
        auto a2 = fs.open("A");
        EXPECT_EQ(fs.open_streams("A"), 2u);
    }
    EXPECT_EQ(fs.open_streams("A"), 0u);
    // With A drained, B is alone: no lift.
    auto b = fs.open("B");
    EXPECT_FALSE(b.lifted());
}

TEST(fair_share, a_moved_ticket_counts_once) {
    fair_share fs;
    auto a = fs.open("A");
    fair_share::ticket moved = std::move(a);
    fair_share::ticket assigned;
    assigned = std::move(moved);
    EXPECT_EQ(fs.open_streams("A"), 1u);
    assigned = fair_share::ticket{};
    EXPECT_EQ(fs.open_streams("A"), 0u);
}

TEST(fair_share, the_lift_is_one_level_and_stays_within_the_queue_maximum) {
    EXPECT_EQ(fair_share::lifted_priority(0, 9), 1);
    EXPECT_EQ(fair_share::lifted_priority(4, 9), 5);
    EXPECT_EQ(fair_share::lifted_priority(9, 9), 9);
}

}  // namespace
}  // namespace llmp::api

// recent_cancels: the worker's memory of cancels for requests it did not hold yet.

#include "worker/recent_cancels.hpp"

#include <gtest/gtest.h>

namespace llmp::worker {
namespace {

TEST(recent_cancels, a_cancelled_id_is_taken_once) {
    recent_cancels c;
    c.add("r1");
    EXPECT_FALSE(c.take("r2"));
    EXPECT_TRUE(c.take("r1"));
    EXPECT_FALSE(c.take("r1")) << "checked once, at start";
}

TEST(recent_cancels, a_repeated_cancel_is_one_entry) {
    recent_cancels c{4};
    c.add("r1");
    c.add("r1");
    EXPECT_EQ(c.size(), 1u);
}

TEST(recent_cancels, the_oldest_is_forgotten_past_the_capacity) {
    recent_cancels c{2};
    c.add("r1");
    c.add("r2");
    c.add("r3");
    EXPECT_EQ(c.size(), 2u);
    EXPECT_FALSE(c.take("r1"));
    EXPECT_TRUE(c.take("r2"));
    EXPECT_TRUE(c.take("r3"));
}

TEST(recent_cancels, taken_ids_do_not_grow_the_order_without_bound) {
    recent_cancels c{2};
    for (int i = 0; i < 1000; ++i) {
        auto id = "r" + std::to_string(i);
        c.add(id);
        ASSERT_TRUE(c.take(id));
    }
    c.add("last");
    EXPECT_TRUE(c.take("last"));
    EXPECT_EQ(c.size(), 0u);
}

}  // namespace
}  // namespace llmp::worker

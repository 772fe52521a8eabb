#include "http/connection_limiter.hpp"

#include <gtest/gtest.h>

namespace llmp::http_server {
namespace {

using v = connection_limiter::verdict;

TEST(connection_limiter, caps_the_total_and_gives_slots_back) {
    connection_limiter l{2, 0};
    EXPECT_EQ(l.admit("a"), v::admitted);
    EXPECT_EQ(l.admit("b"), v::admitted);
    EXPECT_EQ(l.admit("c"), v::too_many);
    EXPECT_EQ(l.open(), 2);
    l.release("a");
    EXPECT_EQ(l.admit("c"), v::admitted);
}

TEST(connection_limiter, caps_each_address_and_forgets_addresses_with_nothing_open) {
    connection_limiter l{0, 2};
    EXPECT_EQ(l.admit("10.0.0.1"), v::admitted);
    EXPECT_EQ(l.admit("10.0.0.1"), v::admitted);
    EXPECT_EQ(l.admit("10.0.0.1"), v::too_many_from_address);
    EXPECT_EQ(l.admit("10.0.0.2"), v::admitted);
    EXPECT_EQ(l.open(), 3);
    l.release("10.0.0.1");
    EXPECT_EQ(l.open_from("10.0.0.1"), 1);
    EXPECT_EQ(l.admit("10.0.0.1"), v::admitted);
    l.release("10.0.0.2");
    EXPECT_EQ(l.open_from("10.0.0.2"), 0);
}

TEST(connection_limiter, zero_means_no_cap) {
    connection_limiter l{0, 0};
    for (int i = 0; i < 1000; ++i) {
        ASSERT_EQ(l.admit("a"), v::admitted);
    }
    EXPECT_EQ(l.open(), 1000);
}

}  // namespace
}  // namespace llmp::http_server

#include "common/notifying_queue.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <thread>

namespace llmp {
namespace {

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

TEST(notifying_queue, signals_when_items_wait_and_bounds_capacity) {
    notifying_queue<int> q{2};
    EXPECT_FALSE(readable(q.fd()));
    EXPECT_TRUE(q.try_push(1));
    EXPECT_TRUE(readable(q.fd()));
    EXPECT_TRUE(q.try_push(2));
    EXPECT_FALSE(q.try_push(3));
    q.push_unbounded(4);
    std::vector<int> out;
    q.drain(out);
    EXPECT_EQ(out, (std::vector<int>{1, 2, 4}));
    EXPECT_FALSE(readable(q.fd()));
    EXPECT_TRUE(q.try_push(5));
    EXPECT_TRUE(readable(q.fd()));
}

TEST(notifying_queue, many_producers_lose_nothing) {
    notifying_queue<int> q{1 << 20};
    std::vector<std::thread> producers;
    for (int t = 0; t < 4; ++t) {
        producers.emplace_back([&q, t] {
            for (int i = 0; i < 10000; ++i) {
                while (!q.try_push(t * 10000 + i)) {
                }
            }
        });
    }
    std::vector<int> got;
    while (got.size() < 40000) {
        pollfd p{q.fd(), POLLIN, 0};
        ::poll(&p, 1, 1000);
        q.drain(got);
    }
    for (auto& t : producers) {
        t.join();
    }
    std::sort(got.begin(), got.end());
    for (int i = 0; i < 40000; ++i) {
        ASSERT_EQ(got[i], i);
    }
}

}  // namespace
}  // namespace llmp

#include "audit/batcher.hpp"

#include <gtest/gtest.h>

namespace llmp::audit {
namespace {

using namespace std::chrono_literals;

pending_row row(std::uint64_t epoch, std::uint64_t tag) {
    request_row r;
    r.request_id = "r-" + std::to_string(epoch) + "-" + std::to_string(tag);
    return pending_row{record{r}, ack_ref{epoch, tag}, {}};
}

TEST(batcher, due_when_full) {
    batcher b{3, 1000ms};
    auto t0 = steady::now();
    EXPECT_FALSE(b.due(t0));
    EXPECT_FALSE(b.deadline());
    b.add(row(1, 1), t0);
    b.add(row(1, 2), t0);
    EXPECT_FALSE(b.due(t0));
    EXPECT_EQ(b.room(), 1u);
    b.add(row(1, 3), t0);
    EXPECT_TRUE(b.due(t0));
    EXPECT_EQ(b.room(), 0u);
}

TEST(batcher, due_when_the_oldest_row_is_old_enough) {
    batcher b{100, 50ms};
    auto t0 = steady::now();
    b.add(row(1, 1), t0);
    b.add(row(1, 2), t0 + 40ms);
    EXPECT_EQ(*b.deadline(), t0 + 50ms);
    EXPECT_FALSE(b.due(t0 + 49ms));
    EXPECT_TRUE(b.due(t0 + 50ms));
    auto taken = b.take();
    EXPECT_EQ(taken.rows.size(), 2u);
    EXPECT_TRUE(b.empty());
    EXPECT_FALSE(b.deadline());
}

TEST(batcher, acks_are_the_highest_tag_per_epoch) {
    batcher b{100, 50ms};
    auto t0 = steady::now();
    b.add(row(1, 5), t0);
    b.add(row(1, 9), t0);
    b.add(row(2, 1), t0);  // the consumer reconnected: tags restart
    b.add(row(2, 3), t0);
    auto taken = b.take();
    ASSERT_EQ(taken.acks.size(), 2u);
    EXPECT_EQ(taken.acks[0].epoch, 1u);
    EXPECT_EQ(taken.acks[0].tag, 9u);
    EXPECT_EQ(taken.acks[1].epoch, 2u);
    EXPECT_EQ(taken.acks[1].tag, 3u);
}

TEST(batcher, keeps_the_newest_heartbeat_per_worker) {
    batcher b{100, 50ms};
    auto t0 = steady::now();
    worker_heartbeat a1{.worker_id = "a", .requests_total = 1, .sent_at_ms = 10};
    worker_heartbeat a2{.worker_id = "a", .requests_total = 2, .sent_at_ms = 20};
    worker_heartbeat stale{.worker_id = "a", .requests_total = 0, .sent_at_ms = 5};
    worker_heartbeat b1{.worker_id = "b", .sent_at_ms = 7};
    b.add_heartbeat(std::move(a1), t0);
    b.add_heartbeat(std::move(a2), t0);
    b.add_heartbeat(std::move(stale), t0);
    b.add_heartbeat(std::move(b1), t0);
    EXPECT_TRUE(b.due(t0 + 50ms)) << "heartbeats alone are flushed on time too";
    auto taken = b.take();
    ASSERT_EQ(taken.workers.size(), 2u);
    EXPECT_EQ(taken.workers[0].requests_total, 2);
    EXPECT_TRUE(taken.acks.empty());
}

}  // namespace
}  // namespace llmp::audit

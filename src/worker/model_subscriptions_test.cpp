// model_subscriptions: the set differences that decide which model queues a worker starts and
// stops consuming as its provider's model list changes.

#include "worker/model_subscriptions.hpp"

#include <gtest/gtest.h>

namespace llmp::worker {
namespace {

using names = std::vector<std::string>;

TEST(model_subscriptions, the_first_list_starts_every_model_once) {
    model_subscriptions s;
    auto p = s.plan_for({"qwen2.5:latest", "llama3.2:latest", "qwen2.5:latest"});
    EXPECT_EQ(p.start, (names{"llama3.2:latest", "qwen2.5:latest"}));
    EXPECT_TRUE(p.stop.empty());
}

TEST(model_subscriptions, a_gained_model_starts_a_lost_one_stops_the_rest_stay) {
    model_subscriptions s;
    s.started("a:latest", "tag-a");
    s.started("b:latest", "tag-b");
    auto p = s.plan_for({"b:latest", "c:latest"});
    EXPECT_EQ(p.start, names{"c:latest"});
    EXPECT_EQ(p.stop, names{"a:latest"});
    EXPECT_FALSE(p.empty());
    EXPECT_TRUE(s.plan_for({"a:latest", "b:latest"}).empty()) << "the same list: nothing to do";
}

TEST(model_subscriptions, an_empty_list_stops_everything) {
    model_subscriptions s;
    s.started("a:latest", "tag-a");
    auto p = s.plan_for({});
    EXPECT_TRUE(p.start.empty());
    EXPECT_EQ(p.stop, names{"a:latest"});
}

TEST(model_subscriptions, deliveries_are_told_apart_by_consumer_tag) {
    model_subscriptions s;
    s.started("a:latest", "tag-a");
    s.started("b:latest", "tag-b");
    ASSERT_NE(s.model_of("tag-b"), nullptr);
    EXPECT_EQ(*s.model_of("tag-b"), "b:latest");
    EXPECT_EQ(s.model_of("tag-unrouted"), nullptr);
    ASSERT_NE(s.tag_of("a:latest"), nullptr);
    EXPECT_EQ(*s.tag_of("a:latest"), "tag-a");
    EXPECT_EQ(s.tag_of("c:latest"), nullptr);
    s.stopped("b:latest");
    EXPECT_EQ(s.model_of("tag-b"), nullptr) << "a delivery of a cancelled consumer";
    EXPECT_EQ(s.models(), names{"a:latest"});
    s.clear();
    EXPECT_TRUE(s.models().empty());
    EXPECT_EQ(s.plan_for({"a:latest"}).start, names{"a:latest"}) << "after a reconnect, everything again";
}

}  // namespace
}  // namespace llmp::worker

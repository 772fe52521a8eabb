// The worker's table of running tasks: copies of one request, cancels before and during a task,
// and a lost connection's deliveries (docs/architecture.md, "Worker loss and redelivery").
#include "worker/task_table.hpp"

#include "worker/generation_task.hpp"
#include "worker/testing/fake_task_host.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace llmp::worker {
namespace {

using admission = task_table::admission;

class task_table_test : public ::testing::Test {
protected:
    /// A task for request `id` delivered on connection `epoch` (not started: the table only
    /// holds tasks).
    std::shared_ptr<generation_task> task(const std::string& id, std::uint64_t epoch = 1) {
        request_message r;
        r.request_id = id;
        r.server_id = "api-1";
        r.model = "fake:latest";
        return std::make_shared<generation_task>(host_, std::move(r), task_origin{epoch, ++tag_, 1});
    }

    testing::fake_task_host host_;
    std::uint64_t tag_ = 0;
    task_table table_;
};

TEST_F(task_table_test, two_copies_of_one_request_are_both_held_and_each_leaves_on_its_own) {
    auto first = task("r-1");
    auto second = task("r-1");
    EXPECT_EQ(table_.admit(first), admission::start);
    EXPECT_EQ(table_.admit(second), admission::start);
    EXPECT_EQ(table_.size(), 2u);

    // The table is the tasks' owner: the first copy must outlive the second's arrival.
    std::weak_ptr<generation_task> first_alive = first;
    first.reset();
    ASSERT_FALSE(first_alive.expired());

    // The second ends first: the first copy stays, and a cancel still reaches it.
    table_.remove(*second);
    auto found = table_.cancel("r-1");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0], first_alive.lock());
    table_.remove(*found[0]);
    EXPECT_EQ(table_.size(), 0u);
}

TEST_F(task_table_test, a_cancel_reaches_every_copy_of_its_request_and_no_other) {
    auto a = task("r-1");
    auto b = task("r-1");
    auto other = task("r-2");
    for (auto* t : {&a, &b, &other}) {
        ASSERT_EQ(table_.admit(*t), admission::start);
    }
    auto found = table_.cancel("r-1");
    ASSERT_EQ(found.size(), 2u);
    EXPECT_NE(found[0], found[1]);
    for (auto& t : found) {
        EXPECT_EQ(t->request_id(), "r-1");
    }
}

TEST_F(task_table_test, a_cancel_before_its_request_comes_makes_the_request_start_cancelled) {
    EXPECT_TRUE(table_.cancel("r-1").empty());
    auto t = task("r-1");
    EXPECT_EQ(table_.admit(t), admission::cancelled);
    EXPECT_EQ(table_.size(), 1u) << "held until it ends, like any task";
    // Once: a later copy of the request starts.
    EXPECT_EQ(table_.admit(task("r-1")), admission::start);
}

TEST_F(task_table_test, a_lost_connection_gives_every_task_to_abandon_and_admits_none_of_its_deliveries) {
    auto running = task("r-1", 1);
    auto fallback = task("r-0", 1);  // an older delivery run here (a put-back that failed)
    ASSERT_EQ(table_.admit(running), admission::start);
    ASSERT_EQ(table_.admit(fallback), admission::start);

    auto abandon = table_.lose_connection(1);
    EXPECT_EQ(abandon.size(), 2u);

    // Still on its way when the connection went: its delivery is back in the queue.
    EXPECT_EQ(table_.admit(task("r-2", 1)), admission::lost);
    EXPECT_EQ(table_.size(), 2u) << "a lost delivery is not held";
    // The next connection's deliveries start.
    EXPECT_EQ(table_.admit(task("r-2", 2)), admission::start);
    // A later loss covers the older epochs too.
    table_.lose_connection(2);
    EXPECT_EQ(table_.admit(task("r-3", 1)), admission::lost);
    EXPECT_EQ(table_.admit(task("r-3", 2)), admission::lost);
    EXPECT_EQ(table_.admit(task("r-3", 3)), admission::start);
}

}  // namespace
}  // namespace llmp::worker

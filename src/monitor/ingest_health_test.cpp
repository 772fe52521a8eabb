// The audit-ingest stall rule and the dead-letter rule (ingest_health.hpp), over hand-made
// samples: a draining backlog stays green, a backlog with no stored row turns red after the
// stall time, an empty queue or a new row turns it green again.

#include "monitor/ingest_health.hpp"
#include "monitor/ingest_watch.hpp"

#include <gtest/gtest.h>

namespace llmp::monitor {
namespace {

using namespace std::chrono_literals;

ingest_sample at(std::int64_t t_s, std::int64_t backlog, std::string mark, std::int64_t dead = 0,
                 std::int64_t consumers = 1) {
    ingest_sample s;
    s.t_ms = t_s * 1000;
    s.backlog = backlog;
    s.consumers = consumers;
    s.stored_mark = std::move(mark);
    s.dead_letters = dead;
    return s;
}

TEST(ingest_health, nothing_known_without_queue_statistics) {
    std::deque<ingest_sample> none;
    EXPECT_FALSE(judge_ingest(none, 10s).known);
    EXPECT_TRUE(judge_ingest(none, 10s).ok);
    ingest_sample blind;
    blind.t_ms = 1000;
    blind.stored_mark = "a";
    std::deque<ingest_sample> s{blind};
    EXPECT_FALSE(judge_ingest(s, 10s).known);
    EXPECT_TRUE(judge_ingest(s, 10s).ok);
    EXPECT_FALSE(judge_dead_letters(s, 10s, "p.dead").known);
}

TEST(ingest_health, a_backlog_that_drains_is_green) {
    // Messages wait every time, but each sample finds a newer row: the audit is busy, not stuck.
    std::deque<ingest_sample> s;
    for (int t = 0; t <= 60; t += 2) {
        s.push_back(at(t, 500 - t, "mark-" + std::to_string(t)));
    }
    auto v = judge_ingest(s, 10s);
    EXPECT_TRUE(v.known);
    EXPECT_TRUE(v.ok);
    EXPECT_EQ(v.stalled_for_s, 0.0);
    EXPECT_EQ(v.backlog, 440);
}

TEST(ingest_health, idle_with_empty_queues_is_green_however_long_no_row_comes) {
    std::deque<ingest_sample> s;
    for (int t = 0; t <= 600; t += 2) {
        s.push_back(at(t, 0, "same"));
    }
    EXPECT_TRUE(judge_ingest(s, 10s).ok);
}

TEST(ingest_health, messages_waiting_and_no_new_row_turn_red_after_the_stall_time) {
    std::deque<ingest_sample> s{at(0, 0, "m1"), at(2, 3, "m2"), at(4, 5, "m2"), at(6, 9, "m2")};
    auto v = judge_ingest(s, 10s);
    EXPECT_TRUE(v.ok) << "4 s without a row is below the 10 s stall time";
    EXPECT_DOUBLE_EQ(v.stalled_for_s, 4.0) << "counted from the last sample that stored a row";
    s.push_back(at(11, 15, "m2"));
    EXPECT_TRUE(judge_ingest(s, 10s).ok) << "9 s";
    s.push_back(at(12, 20, "m2"));
    v = judge_ingest(s, 10s);
    EXPECT_FALSE(v.ok) << "10 s reaches the stall time";
    EXPECT_DOUBLE_EQ(v.stalled_for_s, 10.0);
    s.push_back(at(14, 25, "m2"));
    v = judge_ingest(s, 10s);
    EXPECT_FALSE(v.ok);
    EXPECT_DOUBLE_EQ(v.stalled_for_s, 12.0);
    EXPECT_EQ(v.backlog, 25);
    EXPECT_NE(v.reason.find("25 messages waiting"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("12 s"), std::string::npos) << v.reason;
    // A new row: green at once.
    s.push_back(at(16, 24, "m3"));
    v = judge_ingest(s, 10s);
    EXPECT_TRUE(v.ok);
    EXPECT_EQ(v.stalled_for_s, 0.0);
    // Empty queues: green.
    s.push_back(at(18, 0, "m3"));
    EXPECT_TRUE(judge_ingest(s, 10s).ok);
}

TEST(ingest_health, says_when_no_audit_consumes_or_the_database_cannot_be_read) {
    std::deque<ingest_sample> s{at(0, 1, "m"), at(20, 40, "m", 0, /*consumers=*/0)};
    auto v = judge_ingest(s, 10s);
    EXPECT_FALSE(v.ok);
    EXPECT_NE(v.reason.find("no audit process"), std::string::npos) << v.reason;
    auto down = at(40, 60, "");
    down.stored_mark.reset();
    s.push_back(down);
    v = judge_ingest(s, 10s);
    EXPECT_FALSE(v.ok) << "an unreadable database stores no row either";
    EXPECT_DOUBLE_EQ(v.stalled_for_s, 40.0);
    EXPECT_NE(v.reason.find("database cannot be read"), std::string::npos) << v.reason;
    // The database is back with new rows: green.
    s.push_back(at(42, 10, "m-later"));
    EXPECT_TRUE(judge_ingest(s, 10s).ok);
}

TEST(ingest_health, a_history_without_a_good_sample_counts_from_its_start) {
    std::deque<ingest_sample> s{at(100, 5, "m"), at(130, 7, "m")};
    auto v = judge_ingest(s, 10s);
    EXPECT_FALSE(v.ok);
    EXPECT_DOUBLE_EQ(v.stalled_for_s, 30.0);
}

TEST(ingest_health, dead_letters_are_red_while_present_and_say_whether_they_grow) {
    std::deque<ingest_sample> s{at(0, 0, "m", 0), at(2, 0, "m", 0)};
    auto v = judge_dead_letters(s, 10s, "p.dead");
    EXPECT_TRUE(v.known);
    EXPECT_TRUE(v.ok);
    s.push_back(at(4, 0, "m", 3));
    v = judge_dead_letters(s, 10s, "p.dead");
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.count, 3);
    EXPECT_TRUE(v.growing);
    EXPECT_NE(v.reason.find("3 messages in the dead-letter queue p.dead, growing"), std::string::npos) << v.reason;
    // Unchanged for longer than the window: still red, no longer growing.
    s.push_back(at(30, 0, "m", 3));
    v = judge_dead_letters(s, 10s, "p.dead");
    EXPECT_FALSE(v.ok);
    EXPECT_FALSE(v.growing);
    // Purged: green.
    s.push_back(at(32, 0, "m", 0));
    EXPECT_TRUE(judge_dead_letters(s, 10s, "p.dead").ok);
}

TEST(ingest_health, keeps_a_bounded_history) {
    ingest_health h{10s, "p.dead"};
    h.record(at(0, 5, "m"));
    h.record(at(20, 5, "m"));
    EXPECT_FALSE(h.ingest().ok);
    for (int t = 22; t < 10000; t += 2) {
        h.record(at(t, 5, "m"));
    }
    auto v = h.ingest();
    EXPECT_FALSE(v.ok);
    EXPECT_GE(v.stalled_for_s, 3600.0 - 2) << "a lower bound once the history was trimmed";
    EXPECT_LE(v.stalled_for_s, 3600.0 + 2);
}

TEST(ingest_health, queue_part_reads_the_samplers_answer) {
    nlohmann::json latest = {{"available", true},
                             {"queues",
                              {{{"name", "p.requests.work"}, {"messages", 7}, {"consumers", 2}},
                               {{"name", "p.audit.requests"}, {"messages", 4}, {"consumers", 1}},
                               {{"name", "p.audit.responses"}, {"messages", 6}, {"consumers", 1}},
                               {{"name", "p.dead"}, {"messages", 2}, {"consumers", 0}}}}};
    auto s = queue_part(latest, {"p.audit.requests", "p.audit.responses"}, "p.dead");
    EXPECT_EQ(s.backlog, 10);
    EXPECT_EQ(s.consumers, 2);
    EXPECT_EQ(s.dead_letters, 2);
    auto none = queue_part(nlohmann::json{{"available", false}}, {"p.audit.requests"}, "p.dead");
    EXPECT_FALSE(none.backlog);
    EXPECT_FALSE(none.dead_letters);
}

}  // namespace
}  // namespace llmp::monitor

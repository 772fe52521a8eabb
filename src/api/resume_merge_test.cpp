// resume_merge: stored and live chunks of a background generation merged into one run, each
// chunk once and in order, whatever the audit's lag; and the events after starting_after.

#include "api/resume_merge.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

std::string texts(const std::vector<stored_chunk>& v) {
    std::string out;
    for (const auto& c : v) {
        out += std::to_string(c.seq) + ":" + c.text + " ";
    }
    return out;
}

TEST(resume_merge, stored_chunks_are_taken_once_in_order) {
    resume_merge m;
    std::vector<stored_chunk> out;
    m.take_stored({{1, "a"}, {2, "b"}}, out);
    m.take_stored({{1, "a"}, {2, "b"}, {4, "cd"}}, out);  // read again: only what is new
    EXPECT_EQ(texts(out), "1:a 2:b 4:cd ");
    EXPECT_EQ(m.last_seq(), 4);
}

TEST(resume_merge, live_chunks_the_store_already_gave_are_dropped_and_join_the_runs) {
    resume_merge m;
    std::vector<stored_chunk> out;
    m.take_stored({{1, "a"}, {2, "b"}, {3, "c"}}, out);
    m.live({2, "b"});
    m.live({3, "c"});
    m.live({5, "de"});
    m.take_live(out);
    EXPECT_TRUE(m.joined());
    EXPECT_FALSE(m.needs_store());
    EXPECT_EQ(texts(out), "1:a 2:b 3:c 5:de ");
    m.live({6, "f"});
    m.live({6, "f"});  // a duplicate delivery
    m.take_live(out);
    EXPECT_EQ(texts(out), "1:a 2:b 3:c 5:de 6:f ");
}

TEST(resume_merge, a_live_chunk_past_the_store_waits_until_the_store_catches_up) {
    resume_merge m;
    std::vector<stored_chunk> out;
    m.take_stored({{1, "a"}}, out);
    m.live({4, "d"});  // 2 and 3 may exist: the audit has not written them yet
    m.live({5, "e"});
    m.take_live(out);
    EXPECT_EQ(texts(out), "1:a ");
    EXPECT_TRUE(m.needs_store());
    m.take_stored({{1, "a"}, {2, "b"}, {3, "c"}}, out);  // still short of the first live one
    m.take_live(out);
    EXPECT_TRUE(m.needs_store());
    EXPECT_EQ(texts(out), "1:a 2:b 3:c ");
    m.take_stored({{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}}, out);
    m.take_live(out);
    EXPECT_FALSE(m.needs_store());
    EXPECT_EQ(texts(out), "1:a 2:b 3:c 4:d 5:e ");
}

TEST(resume_merge, a_store_ahead_of_the_live_chunks_drops_them_as_duplicates) {
    resume_merge m;
    std::vector<stored_chunk> out;
    m.take_stored({{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}}, out);
    m.live({3, "c"});
    m.live({4, "d"});
    m.take_live(out);
    m.live({5, "e"});
    m.take_live(out);
    EXPECT_EQ(texts(out), "1:a 2:b 3:c 4:d 5:e ");
}

TEST(resume_merge, the_first_chunk_needs_no_store) {
    resume_merge m;
    std::vector<stored_chunk> out;
    m.take_stored({}, out);
    m.live({1, "a"});
    m.live({3, "bc"});
    m.take_live(out);
    EXPECT_TRUE(m.joined());
    EXPECT_EQ(texts(out), "1:a 3:bc ");
}

TEST(resume_merge, without_a_live_chunk_nothing_waits) {
    resume_merge m;
    std::vector<stored_chunk> out;
    m.take_stored({{1, "a"}}, out);
    m.take_live(out);
    EXPECT_FALSE(m.needs_store());
    EXPECT_FALSE(m.joined());
}

TEST(resume_merge, events_after_a_sequence_number_skip_keepalives) {
    std::string out;
    std::int64_t next = 0;
    render_events_after("event: a\ndata: {}\n\nevent: b\ndata: {}\n\n", next, 0, out);
    EXPECT_EQ(out, "event: b\ndata: {}\n\n");
    EXPECT_EQ(next, 2);
    render_events_after(": keepalive\n\nevent: c\ndata: {}\n\n", next, 0, out);
    EXPECT_EQ(out, "event: b\ndata: {}\n\nevent: c\ndata: {}\n\n");
    EXPECT_EQ(next, 3);
    std::string all;
    std::int64_t from0 = 0;
    render_events_after("event: a\ndata: {}\n\n", from0, -1, all);
    EXPECT_EQ(all, "event: a\ndata: {}\n\n");
}

// The native stream's Last-Event-ID: events by their id, the id-less start and keep-alives never.
TEST(resume_merge, events_with_an_id_above_last_event_id) {
    const std::string rendered =
        "event: start\ndata: {}\n\n"
        "event: token\nid: 2\ndata: {\"content\":\"a\"}\n\n"
        ": keepalive\n\n"
        "event: token\nid: 5\ndata: {\"content\":\"b\"}\n\n"
        "event: done\nid: 6\ndata: {}\n\n";
    std::string out;
    render_events_with_id_after(rendered, 2, out);
    EXPECT_EQ(out, "event: token\nid: 5\ndata: {\"content\":\"b\"}\n\nevent: done\nid: 6\ndata: {}\n\n");
    out.clear();
    render_events_with_id_after(rendered, 0, out);
    EXPECT_EQ(out.find("event: start"), std::string::npos);
    EXPECT_NE(out.find("id: 2\n"), std::string::npos);
    out.clear();
    render_events_with_id_after(rendered, 6, out);
    EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace llmp::api

#include "broker/chunk_mux.hpp"

#include "common/chunk_frames.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace llmp::broker {
namespace {

using namespace std::chrono_literals;

publish_job chunk(std::string id, std::string text, std::int64_t seq, std::string server = "api-1",
                  std::int64_t attempt = 1) {
    publish_job j;
    j.multiplex = true;
    j.msg.exchange = "p.responses";
    j.msg.routing_key = server + ".chunks";
    j.msg.mandatory = true;
    j.msg.props.correlation_id = std::move(id);
    j.msg.props.headers = {{"worker", std::string{"w-1"}}};
    j.msg.body = std::move(text);
    j.seq = seq;
    j.attempt = attempt;
    return j;
}

/// A message as "<routing key>: id:text@seq#attempt id:text@seq#attempt ...".
std::string describe(const outgoing_message& m) {
    std::vector<chunk_frame_view> frames;
    auto r = decode_chunk_frames(m.body, frames);
    EXPECT_TRUE(r) << r.error().message;
    std::string out = m.routing_key + ":";
    for (const auto& f : frames) {
        out += " " + std::string{f.request_id} + ":" + std::string{f.text} + "@" + std::to_string(f.seq);
        if (f.attempt != 1) {
            out += "#" + std::to_string(f.attempt);
        }
        if (f.choice != 0) {
            out += "/" + std::to_string(f.choice);
        }
    }
    return out;
}

std::vector<std::string> take_all(chunk_mux& mux) {
    std::vector<outgoing_message> out;
    mux.take(out);
    std::vector<std::string> described;
    for (const auto& m : out) {
        described.push_back(describe(m));
    }
    return described;
}

using strings = std::vector<std::string>;

TEST(chunk_mux, a_lone_chunk_is_one_message_with_one_frame) {
    chunk_mux mux;
    EXPECT_TRUE(mux.empty());
    mux.add(chunk("a", "x", 1));
    EXPECT_FALSE(mux.empty());
    EXPECT_EQ(mux.chunks(), 1u);
    std::vector<outgoing_message> out;
    mux.take(out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].exchange, "p.responses");
    EXPECT_TRUE(out[0].mandatory);
    EXPECT_EQ(out[0].props.content_type, chunk_frames_content_type);
    EXPECT_EQ(field_string(out[0].props.headers, "worker"), "w-1");
    EXPECT_TRUE(out[0].props.correlation_id.empty());
    EXPECT_EQ(describe(out[0]), "api-1.chunks: a:x@1");
    EXPECT_TRUE(mux.empty());
    EXPECT_EQ(mux.chunks(), 0u);
}

TEST(chunk_mux, streams_of_m_servers_become_m_messages_each_stream_one_frame_in_order) {
    chunk_mux mux;
    // Three streams on api-1, two on api-2, interleaved as tokens arrive.
    mux.add(chunk("a", "He", 1));
    mux.add(chunk("d", "1", 1, "api-2"));
    mux.add(chunk("b", "x", 1));
    mux.add(chunk("a", "l", 2));
    mux.add(chunk("c", "Q", 1));
    mux.add(chunk("e", "9", 1, "api-2"));
    mux.add(chunk("d", "2", 2, "api-2"));
    mux.add(chunk("b", "y", 2));
    mux.add(chunk("a", "lo", 3));
    EXPECT_EQ(mux.chunks(), 9u);
    EXPECT_EQ(take_all(mux), (strings{"api-1.chunks: a:Hello@3 b:xy@2 c:Q@1", "api-2.chunks: d:12@2 e:9@1"}));
}

TEST(chunk_mux, nothing_is_held_after_a_take) {
    chunk_mux mux;
    mux.add(chunk("a", "1", 1));
    EXPECT_EQ(take_all(mux).size(), 1u);
    EXPECT_TRUE(take_all(mux).empty());
    mux.add(chunk("a", "2", 2));
    EXPECT_EQ(take_all(mux), strings{"api-1.chunks: a:2@2"});
}

TEST(chunk_mux, another_attempt_of_a_request_gets_a_frame_of_its_own) {
    chunk_mux mux;
    mux.add(chunk("a", "old", 1, "api-1", 1));
    mux.add(chunk("a", "new", 1, "api-1", 2));
    mux.add(chunk("a", "er", 2, "api-1", 2));
    EXPECT_EQ(take_all(mux), strings{"api-1.chunks: a:old@1 a:newer@2#2"});
}

// n > 1: a stream's chunks of one choice merge; a chunk of another choice starts a frame.
TEST(chunk_mux, another_choice_of_a_request_gets_a_frame_of_its_own) {
    chunk_mux mux;
    mux.add(chunk("a", "x", 1));
    mux.add(chunk("a", "y", 2));
    auto other = chunk("a", "B", 3);
    other.choice = 1;
    mux.add(std::move(other));
    auto again = chunk("a", "b", 4);
    again.choice = 1;
    mux.add(std::move(again));
    mux.add(chunk("a", "z", 5));
    EXPECT_EQ(take_all(mux), strings{"api-1.chunks: a:xy@2 a:Bb@4/1 a:z@5"});
}

TEST(chunk_mux, a_full_message_is_closed_and_the_next_chunks_follow_it) {
    chunk_mux mux{250};
    const std::string t(60, 't');
    mux.add(chunk("a", t, 1));
    mux.add(chunk("b", t, 1));
    mux.add(chunk("x", "other server", 1, "api-2"));
    mux.add(chunk("a", t, 2));  // would pass 250 bytes: a new message for api-1
    mux.add(chunk("b", "z", 2));
    auto got = take_all(mux);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], "api-1.chunks: a:" + t + "@1 b:" + t + "@1");
    EXPECT_EQ(got[1], "api-2.chunks: x:other server@1");
    EXPECT_EQ(got[2], "api-1.chunks: a:" + t + "@2 b:z@2");
}

TEST(chunk_mux, exchanges_are_destinations_too) {
    chunk_mux mux;
    auto other = chunk("b", "y", 1);
    other.msg.exchange = "q.responses";
    mux.add(chunk("a", "x", 1));
    mux.add(std::move(other));
    std::vector<outgoing_message> out;
    mux.take(out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].exchange, "p.responses");
    EXPECT_EQ(out[1].exchange, "q.responses");
}

TEST(chunk_mux, a_held_first_chunk_of_a_stream_asks_for_a_flush_until_taken) {
    chunk_mux mux;
    EXPECT_FALSE(mux.holds_first_chunk());
    mux.add(chunk("a", "x", 2));
    mux.add(chunk("b", "y", 5));
    EXPECT_FALSE(mux.holds_first_chunk()) << "later chunks wait for the gate";
    mux.add(chunk("c", "z", 1));
    EXPECT_TRUE(mux.holds_first_chunk());
    mux.add(chunk("c", "w", 2));
    EXPECT_TRUE(mux.holds_first_chunk()) << "merged into a frame, still the stream's first";
    EXPECT_EQ(take_all(mux), strings{"api-1.chunks: a:x@2 b:y@5 c:zw@2"});
    EXPECT_FALSE(mux.holds_first_chunk());
    mux.add(chunk("a", "again", 1, "api-1", 2));
    EXPECT_TRUE(mux.holds_first_chunk()) << "another attempt starts over at seq 1";
}

/// A stream's destination as a worker makes it once (publish_job::stream).
std::shared_ptr<const outgoing_message> stream_of(std::string id, std::string server = "api-1") {
    auto head = std::make_shared<outgoing_message>();
    head->exchange = "p.responses";
    head->routing_key = server + ".chunks";
    head->mandatory = true;
    head->props.correlation_id = std::move(id);
    head->props.headers = {{"worker", std::string{"w-1"}}};
    return head;
}

publish_job shared_chunk(const std::shared_ptr<const outgoing_message>& stream, std::string text, std::int64_t seq,
                         std::int64_t attempt = 1) {
    publish_job j;
    j.multiplex = true;
    j.stream = stream;
    j.msg.body = std::move(text);
    j.seq = seq;
    j.attempt = attempt;
    return j;
}

TEST(chunk_mux, chunks_with_a_shared_stream_destination_are_framed_like_the_others) {
    chunk_mux mux;
    auto a = stream_of("a");
    auto b = stream_of("b");
    auto d = stream_of("d", "api-2");
    mux.add(shared_chunk(a, "He", 1));
    mux.add(shared_chunk(d, "1", 1));
    mux.add(shared_chunk(b, "x", 1));
    mux.add(chunk("c", "Q", 1));  // one without: same destination, same message
    mux.add(shared_chunk(a, "llo", 2));
    mux.add(shared_chunk(d, "2", 2));
    EXPECT_EQ(mux.chunks(), 6u);
    std::vector<outgoing_message> out;
    mux.take(out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(describe(out[0]), "api-1.chunks: a:Hello@2 b:x@1 c:Q@1");
    EXPECT_EQ(describe(out[1]), "api-2.chunks: d:12@2");
    EXPECT_EQ(out[0].exchange, "p.responses");
    EXPECT_TRUE(out[0].mandatory);
    EXPECT_EQ(field_string(out[0].props.headers, "worker"), "w-1");
    EXPECT_TRUE(out[0].props.correlation_id.empty()) << "the message is no one stream's";
    EXPECT_EQ(a->routing_key, "api-1.chunks") << "the shared destination is read, never moved from";
}

TEST(chunk_mux, another_attempt_with_its_own_stream_object_gets_its_own_frame) {
    chunk_mux mux;
    auto first = stream_of("a");
    auto second = stream_of("a");
    mux.add(shared_chunk(first, "old", 1, 1));
    mux.add(shared_chunk(second, "new", 1, 2));
    mux.add(shared_chunk(second, "er", 2, 2));
    mux.add(shared_chunk(first, "late", 2, 1));  // after the newer attempt's frame: a frame after it
    EXPECT_EQ(take_all(mux), strings{"api-1.chunks: a:old@1 a:newer@2#2 a:late@2"});
}

TEST(flush_gate, an_idle_publisher_flushes_at_once_a_busy_one_once_per_interval) {
    flush_gate gate{2ms};
    const auto t0 = flush_gate::clock::now();
    EXPECT_TRUE(gate.due(t0)) << "never flushed: at once";
    gate.flushed(t0, 3);
    EXPECT_FALSE(gate.due(t0 + 1ms));
    EXPECT_EQ(gate.due_at(), t0 + 2ms);
    EXPECT_TRUE(gate.due(t0 + 2ms));
    EXPECT_TRUE(gate.due(t0 + 1s)) << "idle again: at once";
}

TEST(flush_gate, an_answers_end_goes_at_once_only_while_one_stream_is_served) {
    flush_gate gate{5ms};
    const auto t0 = flush_gate::clock::now();
    EXPECT_TRUE(gate.lone_stream(1)) << "nothing flushed yet";
    gate.flushed(t0, 1);
    EXPECT_TRUE(gate.lone_stream(1)) << "one stream: nothing to batch the end of its answer with";
    EXPECT_TRUE(gate.lone_stream(0));
    EXPECT_FALSE(gate.lone_stream(2)) << "two streams held";
    gate.flushed(t0 + 5ms, 12);
    EXPECT_FALSE(gate.lone_stream(1)) << "under load (the last flush carried 12 streams) the end waits for the gate, "
                                         "though right after a flush one chunk is held";
    gate.flushed(t0 + 10ms, 1);
    EXPECT_TRUE(gate.lone_stream(1)) << "the load has gone";
}

TEST(chunk_mux, frames_counts_the_streams_held_until_taken) {
    chunk_mux mux;
    EXPECT_EQ(mux.frames(), 0u);
    mux.add(chunk("a", "x", 2));
    mux.add(chunk("a", "y", 3));
    EXPECT_EQ(mux.frames(), 1u) << "one stream's chunks merge into one frame";
    mux.add(chunk("b", "z", 2));
    mux.add(chunk("c", "w", 2, "api-2"));
    EXPECT_EQ(mux.frames(), 3u);
    std::vector<outgoing_message> out;
    mux.take(out);
    EXPECT_EQ(mux.frames(), 0u);
}

}  // namespace
}  // namespace llmp::broker

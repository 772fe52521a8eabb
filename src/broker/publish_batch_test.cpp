#include "broker/publish_batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace llmp::broker {
namespace {

queued_job chunk(std::string id, std::string body, std::int64_t seq, std::string key = "api-1.chunk") {
    queued_job q;
    q.job.coalesce = true;
    q.job.msg.exchange = "p.responses";
    q.job.msg.routing_key = std::move(key);
    q.job.msg.props.correlation_id = std::move(id);
    q.job.msg.props.headers = {{"seq", seq}};
    q.job.msg.body = std::move(body);
    return q;
}

queued_job final_of(std::string id) {
    queued_job q;
    q.job.msg.exchange = "p.responses";
    q.job.msg.routing_key = "api-1.final";
    q.job.msg.props.correlation_id = std::move(id);
    q.job.msg.body = "{}";
    return q;
}

queued_job stop_entry() {
    queued_job q;
    q.stop = true;
    return q;
}

/// The messages the publisher writes for `batch`, as "body@seq" (or the body alone).
std::vector<std::string> written(std::vector<queued_job> batch) {
    std::vector<std::size_t> carrier;
    plan_batch(batch, carrier);
    EXPECT_EQ(carrier.size(), batch.size());
    merge_planned(batch, carrier);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (carrier[i] != i) {
            continue;
        }
        const auto& m = batch[i].job.msg;
        auto seq = field_int(m.props.headers, "seq", -1);
        out.push_back(m.body + (seq >= 0 ? "@" + std::to_string(seq) : ""));
    }
    return out;
}

using strings = std::vector<std::string>;

TEST(publish_batch, a_lone_chunk_goes_out_as_it_is) {
    EXPECT_EQ(written({chunk("a", "x", 1)}), strings{"x@1"});
}

TEST(publish_batch, chunks_of_one_stream_waiting_together_become_one_message_with_the_last_seq) {
    EXPECT_EQ(written({chunk("a", "He", 1), chunk("a", "l", 2), chunk("a", "lo", 3)}), strings{"Hello@3"});
}

TEST(publish_batch, streams_are_merged_separately_and_keep_their_order) {
    EXPECT_EQ(written({chunk("a", "1", 1), chunk("b", "x", 1), chunk("a", "2", 2), chunk("b", "y", 2)}),
              (strings{"12@2", "xy@2"}));
}

TEST(publish_batch, no_chunk_is_merged_past_its_streams_final) {
    EXPECT_EQ(written({chunk("a", "1", 1), final_of("a"), chunk("a", "2", 2)}), (strings{"1@1", "{}", "2@2"}));
}

TEST(publish_batch, a_final_of_another_stream_does_not_close_the_run) {
    EXPECT_EQ(written({chunk("a", "1", 1), final_of("b"), chunk("a", "2", 2)}), (strings{"12@2", "{}"}));
}

TEST(publish_batch, chunks_for_another_routing_key_are_not_merged) {
    // Same request id, a different API server's chunk key: a different destination.
    EXPECT_EQ(written({chunk("a", "1", 1), chunk("a", "2", 2, "api-2.chunk"), chunk("a", "3", 3, "api-2.chunk")}),
              (strings{"1@1", "23@3"}));
}

TEST(publish_batch, jobs_not_marked_coalesce_and_jobs_without_a_correlation_id_are_never_merged) {
    auto plain = chunk("a", "1", 1);
    plain.job.coalesce = false;
    auto anonymous = chunk("", "h", 1);
    EXPECT_EQ(written({plain, chunk("a", "2", 2), anonymous, chunk("", "h", 2)}),
              (strings{"1@1", "2@2", "h@1", "h@2"}));
}

TEST(publish_batch, only_the_stop_flag_marks_the_stop_entry) {
    // A job with no exchange and no routing key is still a message (the default exchange).
    queued_job blank;
    blank.job.msg.body = "b";
    EXPECT_EQ(written({chunk("a", "1", 1), stop_entry(), blank, chunk("a", "2", 2)}), (strings{"12@2", "b"}));
    std::vector<queued_job> batch;
    batch.push_back(stop_entry());
    std::vector<std::size_t> carrier;
    plan_batch(batch, carrier);
    EXPECT_EQ(carrier, std::vector<std::size_t>{not_written});
}

}  // namespace
}  // namespace llmp::broker

#include "audit/api_loss.hpp"

#include "broker/topology.hpp"

#include <gtest/gtest.h>

namespace llmp::audit {
namespace {

response_row worker_report(std::string status) {
    response_row r;
    r.request_id = "r1";
    r.server_id = "api-1";
    r.status = std::move(status);
    r.text = "the whole answer";
    r.completion_tokens = 4;
    return r;
}

TEST(api_loss, an_unconfirmed_worker_report_becomes_api_lost_keeping_text_and_counts) {
    for (const char* status : {"ok", "cancelled", "error"}) {
        auto r = worker_report(status);
        ASSERT_TRUE(api_loss::mark_lost(r)) << status;
        EXPECT_EQ(r.status, "error");
        EXPECT_EQ(r.error_code, "api_lost");
        EXPECT_TRUE(r.retryable);
        EXPECT_NE(r.error_message.find("api-1"), std::string::npos);
        EXPECT_EQ(r.text, "the whole answer") << "what the worker produced stays readable";
        EXPECT_EQ(r.completion_tokens, 4);
        EXPECT_EQ(r.reported_by, "worker");
    }
}

TEST(api_loss, an_api_verdict_is_the_servers_own_word_and_stays) {
    auto r = worker_report("error");
    r.reported_by = "api";
    r.error_code = "timeout";
    EXPECT_FALSE(api_loss::mark_lost(r));
    EXPECT_EQ(r.error_code, "timeout");
}

TEST(api_loss, the_clock_is_the_wall_clock_only_when_caught_up) {
    EXPECT_EQ(api_loss::judgement_clock_ms(true, 1000, 400), 1000);
    EXPECT_EQ(api_loss::judgement_clock_ms(false, 1000, 400), 400) << "behind a backlog: time as the messages tell";
    EXPECT_EQ(api_loss::judgement_clock_ms(true, 1000, 1200), 1200) << "a confirmation stamped ahead (skew)";
}

TEST(api_loss, ids_become_a_text_array_literal) {
    EXPECT_EQ(api_loss::text_array_literal({}), "{}");
    EXPECT_EQ(api_loss::text_array_literal({"a", "b-1"}), R"({"a","b-1"})");
    EXPECT_EQ(api_loss::text_array_literal({R"(x"y\z)"}), R"({"x\"y\\z"})");
}

TEST(api_loss, a_delivered_message_decodes_to_a_confirmation_not_a_row) {
    broker::delivery d;
    d.props.type = std::string{broker::delivered_type};
    d.routing_key = "llm.audit.responses";
    d.body = R"({"server_id":"api-1","sent_at_ms":0,"request_ids":["r1","r2"]})";
    auto rec = decode_record(source::responses, d, 1234);
    ASSERT_TRUE(rec) << rec.error().message;
    const auto* c = std::get_if<delivery_confirmation>(&rec.value());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->server_id, "api-1");
    EXPECT_EQ(c->sent_at_ms, 1234) << "no stamp: the arrival time";
    EXPECT_EQ(c->request_ids.size(), 2u);
    EXPECT_EQ(row_count(rec.value()), 0u);
    EXPECT_FALSE(is_audit_row(rec.value())) << "neither counted nor in the ingest lag";
    EXPECT_EQ(event_time_ms(rec.value()), 1234);

    d.body = R"({"request_ids":["r1"]})";
    EXPECT_FALSE(decode_record(source::responses, d, 1234)) << "no server: dead-lettered as malformed";
}

}  // namespace
}  // namespace llmp::audit

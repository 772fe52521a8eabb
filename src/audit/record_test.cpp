#include "audit/record.hpp"

#include "audit/copy_format.hpp"
#include "broker/topology.hpp"
#include "common/chunk_frames.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace llmp::audit {
namespace {

broker::delivery response(std::string key, std::string body, std::string request_id = "r-1") {
    broker::delivery d;
    d.routing_key = std::move(key);
    d.body = std::move(body);
    d.props.correlation_id = request_id;
    d.props.message_id = request_id;
    d.props.headers = {{"seq", std::int64_t{7}}, {"worker", std::string{"worker-a"}}};
    return d;
}

TEST(record, request_message_becomes_a_request_row) {
    request_message m;
    m.request_id = "r-1";
    m.server_id = "api-1";
    m.received_at_ms = 1700000000123;
    m.model = "mock";
    m.messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
    m.options = {{"num_predict", 3}};
    m.route = "/api/chat";
    m.user_agent = "curl/8";
    broker::delivery d;
    d.body = encode(m);
    auto r = decode_record(source::requests, d, 5);
    ASSERT_TRUE(r) << r.error().message;
    const auto& row = std::get<request_row>(r.value());
    EXPECT_EQ(row.request_id, "r-1");
    EXPECT_EQ(row.received_at_ms, 1700000000123);
    EXPECT_EQ(row.kind, "chat");
    ASSERT_TRUE(row.messages_json);
    EXPECT_EQ(nlohmann::json::parse(*row.messages_json)[0]["content"], "hi");
    EXPECT_FALSE(row.prompt);
    EXPECT_EQ(nlohmann::json::parse(row.options_json)["num_predict"], 3);
    EXPECT_EQ(row.user_agent, "curl/8");
    EXPECT_EQ(event_time_ms(r.value()), 1700000000123);
}

TEST(record, final_and_error_messages_become_response_rows) {
    final_message f;
    f.text = "hello";
    f.prompt_tokens = 4;
    f.completion_tokens = 2;
    f.worker_id = "worker-a";
    f.provider = "mock";
    f.model = "mock";
    f.completed_at_ms = 1700000001000;
    auto r = decode_record(source::responses, response("api-1.final", encode(f)), 5);
    ASSERT_TRUE(r) << r.error().message;
    const auto& ok_row = std::get<response_row>(r.value());
    EXPECT_EQ(ok_row.status, "ok");
    EXPECT_EQ(ok_row.server_id, "api-1");
    EXPECT_EQ(ok_row.text, "hello");
    EXPECT_EQ(ok_row.completion_tokens, 2);
    EXPECT_EQ(ok_row.completed_at_ms, 1700000001000);

    error_message e{"model_not_found", "no such model", false, "worker-b"};
    auto er = decode_record(source::responses, response("api-1.error", encode(e), "r-2"), 99);
    ASSERT_TRUE(er) << er.error().message;
    const auto& err_row = std::get<response_row>(er.value());
    EXPECT_EQ(err_row.status, "error");
    EXPECT_EQ(err_row.error_code, "model_not_found");
    EXPECT_EQ(err_row.worker_id, "worker-b");
    EXPECT_EQ(err_row.completed_at_ms, 99) << "no timestamp in the message: arrival time";

    error_message c{"cancelled", "client went away", false, "worker-b"};
    auto cr = decode_record(source::responses, response("api-1.error", encode(c), "r-3"), 99);
    ASSERT_TRUE(cr);
    EXPECT_EQ(std::get<response_row>(cr.value()).status, "cancelled");
}

// n > 1: choice 0 is the row's text as ever, the others its choices JSON (NULL for one choice);
// such a final takes the reference decoder (the fast one knows no `choices`).
TEST(record, the_choices_after_the_first_are_kept_as_json) {
    final_message f;
    f.text = "zero";
    f.completed_at_ms = 1700000001000;
    auto single = decode_record(source::responses, response("api-1.final", encode(f)), 5);
    ASSERT_TRUE(single);
    EXPECT_TRUE(std::get<response_row>(single.value()).choices_json.empty());
    choice_outcome one;
    one.text = "one";
    one.done_reason = "length";
    f.choices = {one};
    auto r = decode_record(source::responses, response("api-1.final", encode(f)), 5);
    ASSERT_TRUE(r) << r.error().message;
    const auto& row = std::get<response_row>(r.value());
    EXPECT_EQ(row.text, "zero");
    EXPECT_EQ(nlohmann::json::parse(row.choices_json),
              nlohmann::json::parse(R"([{"index":1,"done_reason":"length","text":"one"}])"));
}

TEST(record, an_api_servers_verdict_is_an_error_row_reported_by_the_api) {
    // What relay publishes when it ends a stream itself: straight into the audit queue (no
    // routing key of the responses exchange), typed, with its server id in a header.
    error_message v{"worker_lost", "the worker generating this answer stopped mid-stream (worker w-a)", true, "w-a"};
    v.completion_tokens = 12;
    v.completed_at_ms = 1700000002000;
    broker::delivery d = response("llmproxy.audit.responses", encode(v), "r-4");
    d.props.type = std::string{broker::verdict_type};
    d.props.headers = {{"server_id", std::string{"api-9"}}};
    auto r = decode_record(source::responses, d, 5);
    ASSERT_TRUE(r) << r.error().message;
    const auto& row = std::get<response_row>(r.value());
    EXPECT_EQ(row.reported_by, "api");
    EXPECT_EQ(row.status, "error");
    EXPECT_EQ(row.error_code, "worker_lost");
    EXPECT_EQ(row.server_id, "api-9");
    EXPECT_EQ(row.worker_id, "w-a");
    EXPECT_EQ(row.completion_tokens, 12);
    EXPECT_EQ(row.completed_at_ms, 1700000002000);
    v.code = "cancelled";
    d.body = encode(v);
    EXPECT_EQ(std::get<response_row>(decode_record(source::responses, d, 5).value()).status, "cancelled");
    // A worker's messages stay the worker's.
    auto w = decode_record(source::responses, response("api-1.error", encode(v)), 5);
    EXPECT_EQ(std::get<response_row>(w.value()).reported_by, "worker");
}

TEST(record, the_api_key_reaches_request_and_response_rows_and_is_empty_without_one) {
    request_message m;
    m.request_id = "r-1";
    m.server_id = "api-1";
    m.model = "mock";
    m.key_id = "0b7c4a52-3f1e-4d7a-9c55-2f8f1a6d9e01";
    m.key_name = "team-a";
    broker::delivery d;
    d.body = encode(m);
    for (auto* decode : {&decode_record, &decode_record_reference}) {
        auto r = (*decode)(source::requests, d, 5, decode_options{});
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_EQ(std::get<request_row>(r.value()).key_id, m.key_id);
        EXPECT_EQ(std::get<request_row>(r.value()).key_name, "team-a");
    }
    error_message e{"upstream_error", "boom", false, "worker-b"};
    copy_request_fields(m, e);
    auto er = decode_record(source::responses, response("api-1.error", encode(e)), 5);
    ASSERT_TRUE(er);
    EXPECT_EQ(std::get<response_row>(er.value()).key_id, m.key_id);
    EXPECT_EQ(std::get<response_row>(er.value()).key_name, "team-a");
    broker::delivery v = response("llmproxy.audit.responses", encode(e));
    v.props.type = std::string{broker::verdict_type};
    auto vr = decode_record(source::responses, v, 5);
    ASSERT_TRUE(vr);
    EXPECT_EQ(std::get<response_row>(vr.value()).key_name, "team-a");
    EXPECT_EQ(std::get<response_row>(vr.value()).request_received_at_ms, 0) << "unknown: the request had none";
    m.received_at_ms = 1765000000123;
    copy_request_fields(m, e);
    EXPECT_EQ(std::get<response_row>(decode_record(source::responses, v, 5).value()).request_received_at_ms, 0);
    v.body = encode(e);
    EXPECT_EQ(std::get<response_row>(decode_record(source::responses, v, 5).value()).request_received_at_ms,
              1765000000123)
        << "a verdict carries the request's receipt time: its response's day partition";
    final_message f;
    copy_request_fields(m, f);
    for (auto* decode : {&decode_record, &decode_record_reference}) {
        auto fr = (*decode)(source::responses, response("api-1.final", encode(f)), 5, decode_options{});
        ASSERT_TRUE(fr);
        EXPECT_EQ(std::get<response_row>(fr.value()).key_id, m.key_id);
        EXPECT_EQ(std::get<response_row>(fr.value()).request_received_at_ms, 1765000000123);
    }
    m.key_id.clear();
    m.key_name.clear();
    d.body = encode(m);
    EXPECT_TRUE(std::get<request_row>(decode_record(source::requests, d, 5).value()).key_id.empty());
}

TEST(record, chunks_keep_seq_attempt_and_arrival_time) {
    auto d = response("api-1.chunk", "tok");
    d.props.headers.emplace_back("attempt", std::int64_t{2});
    auto r = decode_record(source::responses, d, 1234);
    ASSERT_TRUE(r);
    const auto& rows = std::get<chunk_rows>(r.value()).rows;
    ASSERT_EQ(rows.size(), 1u);
    const auto& c = rows[0];
    EXPECT_EQ(c.seq, 7);
    EXPECT_EQ(c.attempt, 2);
    EXPECT_EQ(c.received_at_ms, 1234);
    EXPECT_EQ(c.text, "tok");
    EXPECT_EQ(row_count(r.value()), 1u);
    EXPECT_TRUE(is_audit_row(r.value()));
}

TEST(record, a_multiplexed_chunks_message_is_a_row_per_frame_stored_together) {
    broker::delivery d;
    d.routing_key = "api-1.chunks";  // no correlation id: each frame names its request
    d.props.headers = {{"worker", std::string{"w-1"}}};
    begin_chunk_frames(d.body);
    append_chunk_frame(d.body, "req-a", 3, 1, "Hel");
    append_chunk_frame(d.body, "req-b", 1, 2, std::string{"x\0y", 3});
    auto r = decode_record(source::responses, d, 1234);
    ASSERT_TRUE(r) << r.error().message;
    const auto& rows = std::get<chunk_rows>(r.value()).rows;
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].request_id, "req-a");
    EXPECT_EQ(rows[0].seq, 3);
    EXPECT_EQ(rows[0].attempt, 1);
    EXPECT_EQ(rows[0].text, "Hel");
    EXPECT_EQ(rows[1].request_id, "req-b");
    EXPECT_EQ(rows[1].attempt, 2);
    EXPECT_EQ(rows[1].text, "xy") << "cleaned like every text";
    for (const auto& row : rows) {
        EXPECT_EQ(row.worker_id, "w-1");
        EXPECT_EQ(row.received_at_ms, 1234);
    }
    EXPECT_EQ(row_count(r.value()), 2u);
    EXPECT_EQ(event_time_ms(r.value()), 1234);
    // Both rows in one COPY text, in order.
    std::string copy;
    copy_format::append_row(copy, std::get<chunk_rows>(r.value()));
    EXPECT_EQ(std::count(copy.begin(), copy.end(), '\n'), 2);
    EXPECT_LT(copy.find("req-a"), copy.find("req-b"));

    // Undecodable frames: the delivery is malformed (dead-lettered), never half stored.
    d.body.pop_back();
    auto bad = decode_record(source::responses, d, 1);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "malformed_message");
    d.body = "raw text";
    EXPECT_FALSE(decode_record(source::responses, d, 1));
}

TEST(record, malformed_messages_are_errors_with_a_reason) {
    broker::delivery garbage;
    garbage.body = "\x01not json";
    auto r = decode_record(source::requests, garbage, 1);
    ASSERT_FALSE(r);
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_FALSE(decode_record(source::responses, response("api-1.final", "[1,2]"), 1));
    EXPECT_FALSE(decode_record(source::responses, response("api-1.final", "{}", ""), 1)) << "no request id";
    EXPECT_FALSE(decode_record(source::responses, response("api-1.bogus", "{}"), 1));
    EXPECT_FALSE(decode_record(source::requests, broker::delivery{.body = R"({"request_id":"x"})"}, 1))
        << "lacks server_id and model";
}

TEST(record, nul_bytes_are_stripped_everywhere) {
    request_message m;
    m.request_id = "r-1";
    m.server_id = "api-1";
    m.model = "mock";
    m.kind = request_kind::generate;
    m.prompt = std::string{"a\0b", 3};
    m.options = {{std::string{"k\0", 2}, std::string{"v\0v", 3}}};
    broker::delivery d;
    d.body = encode(m);
    auto r = decode_record(source::requests, d, 1);
    ASSERT_TRUE(r) << r.error().message;
    const auto& row = std::get<request_row>(r.value());
    EXPECT_EQ(*row.prompt, "ab");
    EXPECT_EQ(row.options_json.find("\\u0000"), std::string::npos) << row.options_json;
    EXPECT_EQ(nlohmann::json::parse(row.options_json)["k"], "vv");

    final_message f;
    f.text = std::string{"x\0y\0", 4};
    auto fr = decode_record(source::responses, response("api-1.final", encode(f)), 1);
    ASSERT_TRUE(fr);
    EXPECT_EQ(std::get<response_row>(fr.value()).text, "xy");

    auto chunk = decode_record(source::responses, response("api-1.chunk", std::string{"\0z", 2}), 1);
    ASSERT_TRUE(chunk);
    EXPECT_EQ(std::get<chunk_rows>(chunk.value()).rows.at(0).text, "z");
}

TEST(record, invalid_utf8_is_replaced_not_refused) {
    EXPECT_EQ(clean_text("ok \xC3\xA9"), "ok \xC3\xA9");
    EXPECT_EQ(clean_text("bad \xC3"), "bad \xEF\xBF\xBD");
    EXPECT_EQ(clean_text("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "surrogates are invalid";
    EXPECT_EQ(clean_text("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
    EXPECT_EQ(clean_text(std::string{"\0", 1}), "");
}

}  // namespace
}  // namespace llmp::audit

namespace llmp::audit {
namespace {

TEST(record, images_are_stored_as_their_sha256_and_size_unless_bytes_are_asked_for) {
    request_message m;
    m.request_id = "r-img";
    m.server_id = "api-1";
    m.model = "llava";
    m.messages = nlohmann::json::array(
        {{{"role", "user"}, {"content", "what?"}, {"images", {"Zm9v", "https://example.com/x.png"}}}});
    broker::delivery d;
    d.body = encode(m);
    for (bool fast : {true, false}) {
        auto r = fast ? decode_record(source::requests, d, 5) : decode_record_reference(source::requests, d, 5);
        ASSERT_TRUE(r) << r.error().message;
        auto messages = nlohmann::json::parse(*std::get<request_row>(r.value()).messages_json);
        // SHA-256("foo")
        EXPECT_EQ(messages[0]["images"][0],
                  nlohmann::json(
                      {{"sha256", "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}, {"bytes", 3}}));
        EXPECT_EQ(messages[0]["images"][1], "https://example.com/x.png");
    }
    auto kept = decode_record(source::requests, d, 5, decode_options{true});
    ASSERT_TRUE(kept);
    EXPECT_EQ(nlohmann::json::parse(*std::get<request_row>(kept.value()).messages_json)[0]["images"][0], "Zm9v");

    request_message g = m;
    g.kind = request_kind::generate;
    g.prompt = "describe";
    g.extra = {{"images", {"Zm9v"}}};
    d.body = encode(g);
    auto gr = decode_record(source::requests, d, 5);
    ASSERT_TRUE(gr);
    EXPECT_EQ(nlohmann::json::parse(std::get<request_row>(gr.value()).extra_json)["images"][0]["bytes"], 3);
}

TEST(record, an_embedding_request_keeps_its_texts_and_the_final_no_vectors) {
    request_message m;
    m.request_id = "r-emb";
    m.server_id = "api-1";
    m.model = "nomic";
    m.kind = request_kind::embed;
    m.stream = false;
    m.input = nlohmann::json::array({"a", "b"});
    broker::delivery d;
    d.body = encode(m);
    for (bool fast : {true, false}) {
        auto r = fast ? decode_record(source::requests, d, 5) : decode_record_reference(source::requests, d, 5);
        ASSERT_TRUE(r) << r.error().message;
        const auto& row = std::get<request_row>(r.value());
        EXPECT_EQ(row.kind, "embed");
        ASSERT_TRUE(row.messages_json);
        EXPECT_EQ(*row.messages_json, R"(["a","b"])");
        EXPECT_FALSE(row.prompt);
    }
    final_message f;
    f.prompt_tokens = 2;
    f.embeddings = nlohmann::json::array({{0.5, 0.5}, {1.0, 0.0}});
    auto fr = decode_record(source::responses, response("api-1.final", encode(f), "r-emb"), 5);
    ASSERT_TRUE(fr) << fr.error().message;
    const auto& row = std::get<response_row>(fr.value());
    EXPECT_EQ(row.prompt_tokens, 2);
    EXPECT_EQ(row.text, "");
    EXPECT_EQ(row.provider_metrics_json.find("0.5"), std::string::npos);
}

}  // namespace
}  // namespace llmp::audit

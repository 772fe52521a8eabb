#include "common/messages.hpp"

#include <gtest/gtest.h>

namespace llmp {
namespace {

TEST(messages, request_round_trip_chat) {
    request_message m;
    m.request_id = "r-1";
    m.server_id = "api-abc";
    m.received_at_ms = 1234;
    m.deadline_ms = 5678;
    m.kind = request_kind::chat;
    m.model = "llama3.2";
    m.messages = nlohmann::json::array({{{"role", "user"}, {"content", "héllo \"x\"\n"}}});
    m.options = {{"num_predict", 7}};
    m.extra = {{"format", "json"}};
    m.stream = false;
    m.priority = 3;
    m.user_agent = "curl/8";
    auto d = decode_request(encode(m));
    ASSERT_TRUE(d) << d.error().message;
    const auto& r = d.value();
    EXPECT_EQ(r.request_id, "r-1");
    EXPECT_EQ(r.server_id, "api-abc");
    EXPECT_EQ(r.received_at_ms, 1234);
    EXPECT_EQ(r.deadline_ms, 5678);
    EXPECT_EQ(r.kind, request_kind::chat);
    EXPECT_EQ(r.model, "llama3.2");
    EXPECT_EQ(r.messages, m.messages);
    EXPECT_EQ(r.options, m.options);
    EXPECT_EQ(r.extra, m.extra);
    EXPECT_FALSE(r.stream);
    EXPECT_EQ(r.priority, 3);
    EXPECT_EQ(r.user_agent, "curl/8");
}

TEST(messages, request_round_trip_generate) {
    request_message m;
    m.request_id = "r-2";
    m.server_id = "api-abc";
    m.kind = request_kind::generate;
    m.model = "m";
    m.prompt = "why is the sky blue?";
    auto d = decode_request(encode(m));
    ASSERT_TRUE(d);
    EXPECT_EQ(d.value().kind, request_kind::generate);
    EXPECT_EQ(d.value().prompt, "why is the sky blue?");
}

TEST(messages, request_rejects_garbage_and_missing_ids) {
    EXPECT_FALSE(decode_request("not json"));
    EXPECT_FALSE(decode_request("[1,2]"));
    auto d = decode_request(R"({"model":"m"})");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, "malformed_message");
}

TEST(messages, final_round_trip) {
    final_message f;
    f.done_reason = "length";
    f.text = "a b c";
    f.prompt_tokens = 11;
    f.completion_tokens = 3;
    f.ttft_ms = 1.5;
    f.duration_ms = 20.25;
    f.tokens_per_s = 150;
    f.worker_id = "worker-1";
    f.provider = "ollama";
    f.model = "m:latest";
    f.provider_metrics = {{"eval_count", 3}};
    auto d = decode_final(encode(f));
    ASSERT_TRUE(d);
    EXPECT_EQ(d.value().done_reason, "length");
    EXPECT_EQ(d.value().text, "a b c");
    EXPECT_EQ(d.value().prompt_tokens, 11);
    EXPECT_EQ(d.value().completion_tokens, 3);
    EXPECT_DOUBLE_EQ(d.value().duration_ms, 20.25);
    EXPECT_EQ(d.value().worker_id, "worker-1");
    EXPECT_EQ(d.value().provider_metrics["eval_count"], 3);
}

TEST(messages, error_and_heartbeat_round_trip) {
    auto e = decode_error(encode(error_message{"upstream_error", "boom", true, "w"}));
    ASSERT_TRUE(e);
    EXPECT_EQ(e.value().code, "upstream_error");
    EXPECT_EQ(e.value().message, "boom");
    EXPECT_TRUE(e.value().retryable);

    worker_heartbeat hb;
    hb.worker_id = "worker-9";
    hb.models = {"a:latest", "b:7b"};
    hb.in_flight = 4;
    hb.leaving = true;
    auto h = decode_heartbeat(encode(hb));
    ASSERT_TRUE(h);
    EXPECT_EQ(h.value().worker_id, "worker-9");
    EXPECT_EQ(h.value().models, hb.models);
    EXPECT_EQ(h.value().in_flight, 4);
    EXPECT_TRUE(h.value().leaving);
    EXPECT_FALSE(decode_heartbeat("{}"));
}

TEST(messages, model_names_default_to_latest) {
    EXPECT_EQ(normalize_model_name("llama3"), "llama3:latest");
    EXPECT_EQ(normalize_model_name("llama3:8b"), "llama3:8b");
    EXPECT_EQ(normalize_model_name("hf.co/org/model"), "hf.co/org/model:latest");
    EXPECT_EQ(normalize_model_name("host:5000/model"), "host:5000/model:latest");
}

}  // namespace
}  // namespace llmp

#include "common/messages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

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

std::string deep_array(std::size_t levels) {
    return std::string(levels, '[') + std::string(levels, ']');
}

// nlohmann copies and dumps recursively: a broker message nesting 200,000 levels used to be
// decoded and copied (options, provider_metrics), overflowing the stack.
TEST(messages, every_decoder_refuses_200000_levels_of_nesting) {
    const auto deep = deep_array(200000);
    auto check = [](const auto& decoded) {
        ASSERT_FALSE(decoded);
        EXPECT_EQ(decoded.error().code, "malformed_message");
        EXPECT_NE(decoded.error().message.find("nested deeper than"), std::string::npos) << decoded.error().message;
    };
    check(decode_request(R"({"request_id":"r","server_id":"s","model":"m","options":{"x":)" + deep + "}}"));
    check(decode_request(R"({"request_id":"r","server_id":"s","model":"m","messages":)" + deep + "}"));
    check(decode_final(R"({"text":"t","provider_metrics":{"x":)" + deep + "}}"));
    check(decode_error(R"({"code":"c","message":)" + deep + "}"));
    check(decode_heartbeat(R"({"worker_id":"w","models":)" + deep + "}"));
}

TEST(messages, a_request_the_api_accepted_still_decodes) {
    // A client body may nest 64 levels; the envelope moves pass-through keys one level down.
    auto body = nlohmann::json::parse(deep_array(63));
    request_message m;
    m.request_id = "r";
    m.server_id = "s";
    m.model = "m";
    m.extra["format"] = body;
    m.options["x"] = body;
    auto d = decode_request(encode(m));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d.value().extra["format"], body);
}

// Numbers of the wrong type or out of range read as the fallback: no wrap-around, no
// float-to-int conversion out of range (undefined behaviour).
TEST(messages, out_of_range_numbers_read_as_the_fallback) {
    for (const char* v : {"2147483648", "-2147483649", "9223372036854775807", "18446744073709551615",
                          "18446744073709551616", "1e308", "-1e308", "3.5", "true", "\"5\"", "[]", "{}"}) {
        auto h = decode_heartbeat(std::string{R"({"worker_id":"w","in_flight":)"} + v + R"(,"concurrency":)" + v + "}");
        ASSERT_TRUE(h) << v;
        EXPECT_EQ(h.value().in_flight, 0) << v;
        EXPECT_EQ(h.value().concurrency, 0) << v;
    }
    auto h = decode_heartbeat(R"({"worker_id":"w","in_flight":2147483647,"concurrency":-2147483648})");
    ASSERT_TRUE(h);
    EXPECT_EQ(h.value().in_flight, 2147483647);
    EXPECT_EQ(h.value().concurrency, -2147483648LL);

    for (const char* v : {"9223372036854775808", "18446744073709551615", "1e308", "-1e308", "2.5", "false", "\"1\""}) {
        auto f = decode_final(std::string{R"({"prompt_tokens":)"} + v + R"(,"completed_at_ms":)" + v +
                              R"(,"ttft_ms":"x","text":5})");
        ASSERT_TRUE(f) << v;
        EXPECT_EQ(f.value().prompt_tokens, 0) << v;
        EXPECT_EQ(f.value().completed_at_ms, 0) << v;
        EXPECT_EQ(f.value().ttft_ms, 0) << v;
        EXPECT_EQ(f.value().text, "") << v;
    }
    auto big = decode_final(R"({"prompt_tokens":9223372036854775807,"completion_tokens":-9223372036854775808,
                                "duration_ms":1e308})");
    ASSERT_TRUE(big);
    EXPECT_EQ(big.value().prompt_tokens, INT64_MAX);
    EXPECT_EQ(big.value().completion_tokens, INT64_MIN);
    EXPECT_EQ(big.value().duration_ms, 1e308);

    auto e = decode_error(R"({"code":7,"retryable":"yes","completion_tokens":1e300,"model":["m"]})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e.value().code, "internal_error");
    EXPECT_FALSE(e.value().retryable);
    EXPECT_EQ(e.value().completion_tokens, 0);
    EXPECT_EQ(e.value().model, "");
}

// The input libFuzzer found (float-to-integer overflow in every decoder before integer_of).
TEST(messages, the_fuzzers_float_to_integer_input_decodes) {
    auto h = decode_heartbeat(R"({"worker_id":"w","requests_total":1e30})");
    ASSERT_TRUE(h);
    EXPECT_EQ(h.value().requests_total, 0);
}

// The audit's fast decoder (simdjson) must agree: it leaves these to this decoder.
TEST(messages, a_request_priority_that_is_not_an_int_reads_as_0) {
    for (const char* v : {"4294967299", "18446744073709551615", "1e308", "3.5", "true", "\"5\""}) {
        auto d = decode_request(std::string{R"({"request_id":"r","server_id":"s","model":"m","priority":)"} + v + "}");
        ASSERT_TRUE(d) << v;
        EXPECT_EQ(d.value().priority, 0) << v;  // 4294967299 used to wrap to 3
    }
    auto d = decode_request(R"({"request_id":"r","server_id":"s","model":"m","priority":9,"deadline_ms":1e308,
                                "received_at_ms":18446744073709551615,"timeout_ms":"5","stream":1})");
    ASSERT_TRUE(d);
    EXPECT_EQ(d.value().priority, 9);
    EXPECT_EQ(d.value().deadline_ms, 0);
    EXPECT_EQ(d.value().received_at_ms, 0);
    EXPECT_EQ(d.value().timeout_ms, 0);
    EXPECT_TRUE(d.value().stream);
}

TEST(messages, the_api_key_travels_from_request_to_final_error_and_verdict) {
    request_message m;
    m.request_id = "r-1";
    m.server_id = "api-1";
    m.model = "mock";
    const auto bare = encode(m);
    EXPECT_EQ(bare.find("key_"), std::string::npos) << "no key (--auth none): nothing on the wire";
    EXPECT_TRUE(decode_request(bare).value().key_id.empty());

    m.key_id = "0b7c4a52-3f1e-4d7a-9c55-2f8f1a6d9e01";
    m.key_name = "team \"a\"";
    auto r = decode_request(encode(m));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().key_id, m.key_id);
    EXPECT_EQ(r.value().key_name, m.key_name);

    final_message f;
    copy_request_fields(r.value(), f);
    auto fd = decode_final(encode(f));
    ASSERT_TRUE(fd);
    EXPECT_EQ(fd.value().key_id, m.key_id);
    EXPECT_EQ(fd.value().key_name, m.key_name);

    error_message e{"timeout", "too slow", true, "worker-a"};
    copy_request_fields(r.value(), e);
    auto ed = decode_error(encode(e));
    ASSERT_TRUE(ed);
    EXPECT_EQ(ed.value().key_id, m.key_id);
    EXPECT_EQ(ed.value().key_name, m.key_name);
    EXPECT_EQ(encode(final_message{}).find("key_"), std::string::npos);
    EXPECT_EQ(encode(error_message{}).find("key_"), std::string::npos);
}

TEST(messages, the_requests_receipt_time_travels_in_its_final_and_error_only_when_known) {
    request_message m;
    m.received_at_ms = 1765000000123;
    final_message f;
    error_message e;
    copy_request_fields(m, f);
    copy_request_fields(m, e);
    EXPECT_EQ(decode_final(encode(f)).value().request_received_at_ms, 1765000000123);
    EXPECT_EQ(decode_error(encode(e)).value().request_received_at_ms, 1765000000123);
    EXPECT_EQ(encode(final_message{}).find("request_received_at"), std::string::npos);
    EXPECT_EQ(encode(error_message{}).find("request_received_at"), std::string::npos);
}

TEST(messages, a_model_alias_travels_only_when_the_client_sent_one) {
    request_message m;
    m.request_id = "r-1";
    m.server_id = "api-1";
    m.model = "llama3.2:3b";
    EXPECT_EQ(encode(m).find("model_alias"), std::string::npos) << "no alias: the message is as before";
    EXPECT_EQ(public_model_name(m), "llama3.2:3b");
    m.model_alias = "gpt-4o-mini";
    auto r = decode_request(encode(m));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().model, "llama3.2:3b");
    EXPECT_EQ(r.value().model_alias, "gpt-4o-mini");
    EXPECT_EQ(public_model_name(r.value()), "gpt-4o-mini");
}

TEST(messages, model_names_default_to_latest) {
    EXPECT_EQ(normalize_model_name("llama3"), "llama3:latest");
    EXPECT_EQ(normalize_model_name("llama3:8b"), "llama3:8b");
    EXPECT_EQ(normalize_model_name("hf.co/org/model"), "hf.co/org/model:latest");
    EXPECT_EQ(normalize_model_name("host:5000/model"), "host:5000/model:latest");
    EXPECT_EQ(normalize_model_name("host:5000/model:q4"), "host:5000/model:q4");
    EXPECT_EQ(normalize_model_name("mock"), "mock:latest");
    EXPECT_EQ(normalize_model_name("mock:"), "mock:latest") << "an empty tag is the default tag";
    EXPECT_EQ(normalize_model_name("Qwen/Qwen2.5-0.5B-Instruct"), "Qwen/Qwen2.5-0.5B-Instruct:latest");
    EXPECT_EQ(normalize_model_name(normalize_model_name("mock")), "mock:latest") << "idempotent";
}

}  // namespace
}  // namespace llmp

namespace llmp {
namespace {

TEST(messages, an_embed_request_and_its_vectors_round_trip) {
    request_message m;
    m.request_id = "r";
    m.server_id = "s";
    m.model = "nomic";
    m.kind = request_kind::embed;
    m.input = nlohmann::json::array({"x", "y"});
    auto back = decode_request(encode(m));
    ASSERT_TRUE(back);
    EXPECT_EQ(back.value().kind, request_kind::embed);
    EXPECT_EQ(back.value().input, m.input);
    EXPECT_EQ(to_string(request_kind::embed), "embed");

    final_message f;
    EXPECT_EQ(encode(f).find("embeddings"), std::string::npos) << "absent when empty";
    f.embeddings = nlohmann::json::array({{0.25, -1.0}});
    auto fb = decode_final(encode(f));
    ASSERT_TRUE(fb);
    EXPECT_EQ(fb.value().embeddings, f.embeddings);
}

TEST(Messages, FinalCarriesLogprobsOnlyWhenThereAreSome) {
    final_message f;
    EXPECT_EQ(encode(f).find("logprobs"), std::string::npos) << "absent when empty";
    f.logprobs = nlohmann::json::array(
        {{{"token", "Hi"}, {"logprob", -0.5}, {"bytes", {72, 105}}, {"top_logprobs", nlohmann::json::array()}}});
    auto back = decode_final(encode(f));
    ASSERT_TRUE(back);
    EXPECT_EQ(back.value().logprobs, f.logprobs);
}

// n > 1: choices 1.. ride in the final next to choice 0's own fields; n = 1 finals are as before.
TEST(messages, further_choices_round_trip_and_are_absent_for_one) {
    final_message f;
    f.text = "zero";
    EXPECT_EQ(encode(f).find("choices"), std::string::npos);
    choice_outcome one;
    one.index = 1;
    one.text = "one";
    one.done_reason = "length";
    choice_outcome two;
    two.index = 2;
    two.done_reason = "tool_calls";
    two.tool_calls =
        nlohmann::json::parse(R"([{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}])");
    two.logprobs = nlohmann::json::parse(R"([{"token":"x","logprob":-1,"bytes":[120],"top_logprobs":[]}])");
    f.choices = {one, two};
    auto back = decode_final(encode(f));
    ASSERT_TRUE(back);
    EXPECT_EQ(back.value().text, "zero");
    ASSERT_EQ(back.value().choices.size(), 2u);
    EXPECT_EQ(back.value().choices[0].index, 1);
    EXPECT_EQ(back.value().choices[0].text, "one");
    EXPECT_EQ(back.value().choices[0].done_reason, "length");
    EXPECT_TRUE(back.value().choices[0].tool_calls.empty());
    EXPECT_EQ(back.value().choices[1].index, 2);
    EXPECT_EQ(back.value().choices[1].tool_calls, two.tool_calls);
    EXPECT_EQ(back.value().choices[1].logprobs, two.logprobs);
    EXPECT_TRUE(choices_of(nlohmann::json::parse(R"([1,"x",{"text":"t"}])")).size() == 1u);
}

}  // namespace
}  // namespace llmp

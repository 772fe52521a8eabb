#include "api/final_decode.hpp"

#include "common/json_limits.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace llmp::api {
namespace {

std::string deep_object(int levels) {
    std::string s;
    for (int i = 0; i < levels; ++i) {
        s += R"({"x":)";
    }
    s += "1";
    for (int i = 0; i < levels; ++i) {
        s += "}";
    }
    return s;
}

/// The API's decoder gives what the reference gives, field for field (encode() writes them all).
void expect_same_as_reference(const std::string& body) {
    auto ref = decode_final(body);
    auto got = decode_final_message(body);
    ASSERT_EQ(static_cast<bool>(ref), static_cast<bool>(got)) << body;
    if (!ref) {
        EXPECT_EQ(ref.error().code, got.error().code) << body;
        EXPECT_EQ(ref.error().message, got.error().message) << body;
        return;
    }
    EXPECT_EQ(encode(ref.value()), encode(got.value())) << body;
    EXPECT_EQ(ref.value().provider_metrics, got.value().provider_metrics) << body;
    EXPECT_EQ(ref.value().provider_metrics.dump(), got.value().provider_metrics.dump()) << body;
}

final_message plain_final() {
    final_message f;
    f.done_reason = "length";
    f.text = "a b c \xc3\xa9 \"quoted\" \\ \n";
    f.prompt_tokens = 11;
    f.completion_tokens = 3;
    f.ttft_ms = 1.5;
    f.duration_ms = 20.25;
    f.tokens_per_s = 150.123456789;
    f.worker_id = "worker-1";
    f.provider = "ollama";
    f.model = "m:latest";
    f.provider_metrics = {{"eval_count", 3},
                          {"eval_duration", 123456789},
                          {"neg", -4},
                          {"f", 0.1},
                          {"nested", {{"a", nlohmann::json::array({1, "x", nullptr, true})}}}};
    f.completed_at_ms = 1765000000123;
    f.key_id = "k1";
    f.key_name = "team";
    f.request_received_at_ms = 1765000000001;
    return f;
}

TEST(final_decode, the_plain_finals_of_messages_test_take_the_fast_path_and_decode_as_the_reference_does) {
    final_message empty;
    for (const std::string& body : {encode(plain_final()), encode(empty)}) {
        EXPECT_TRUE(fast_decode_final(body)) << body;
        expect_same_as_reference(body);
    }
    // Unknown fields are ignored by both; nulls keep the defaults.
    for (const char* body :
         {R"({"text":"t","future_field":{"a":[1]},"done_reason":null,"prompt_tokens":null})",
          R"({"provider_metrics":"not an object","text":"t"})", R"({})", R"({"text":"a\u0000b"})",
          R"({"prompt_tokens":9223372036854775807,"completion_tokens":-9223372036854775808,"duration_ms":1e308})",
          R"({"ttft_ms":5,"duration_ms":-0.0,"tokens_per_s":1e-300})",
          R"({"provider_metrics":{"x":1,"x":2,"big":18446744073709551615}})"}) {
        EXPECT_TRUE(fast_decode_final(body)) << body;
        expect_same_as_reference(body);
    }
}

TEST(final_decode, every_other_shape_is_left_to_the_reference) {
    final_message f = plain_final();
    f.tool_calls = nlohmann::json::parse(R"([{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}])");
    final_message e;
    e.embeddings = nlohmann::json::array({{0.25, -1.0}});
    final_message l;
    l.logprobs = nlohmann::json::parse(R"([{"token":"x","logprob":-1,"bytes":[120],"top_logprobs":[]}])");
    final_message c;
    choice_outcome one;
    one.text = "one";
    c.choices = {one};
    for (const std::string& body : {encode(f), encode(e), encode(l), encode(c)}) {
        EXPECT_FALSE(fast_decode_final(body)) << body;
        expect_same_as_reference(body);
    }
    // Mistyped, out-of-range, repeated, malformed, too deep: the reference decides.
    for (const std::string v :
         {"9223372036854775808", "18446744073709551615", "1e308", "-1e308", "2.5", "false", "\"1\""}) {
        const std::string body =
            R"({"prompt_tokens":)" + v + R"(,"completed_at_ms":)" + v + R"(,"ttft_ms":"x","text":5})";
        EXPECT_FALSE(fast_decode_final(body)) << body;
        expect_same_as_reference(body);
    }
    for (const std::string& body :
         {std::string{R"({"text":"a","text":"b"})"}, std::string{"not json"}, std::string{"[1,2]"},
          std::string{R"({"text":"t"} x)"}, std::string{"{\"text\":\"\xff\"}"}, std::string{R"({"text":"t")"},
          std::string{R"({"prompt_tokens":1e999})"}, std::string{R"({"prompt_tokens":123456789012345678901234567890})"},
          R"({"text":"t","provider_metrics":)" + deep_object(200000) + "}"}) {
        EXPECT_FALSE(fast_decode_final(body)) << body.substr(0, 80);
        expect_same_as_reference(body);
    }
}

TEST(final_decode, nesting_at_the_reference_limit_decodes_alike) {
    // Either both decode it (with the same result) or the fast reader leaves it to the reference.
    for (int levels = 1; levels <= static_cast<int>(max_message_json_depth) + 2; ++levels) {
        expect_same_as_reference(R"({"text":"t","provider_metrics":)" + deep_object(levels) + "}");
    }
}

}  // namespace
}  // namespace llmp::api

#include "api/openai_request_parser.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

error rejected(std::string_view body, request_kind k = request_kind::chat) {
    auto r = parse_openai_request(body, k);
    EXPECT_FALSE(r) << body;
    return r ? error{} : r.error();
}

TEST(openai_request_parser, maps_a_chat_body_to_ollama_options) {
    auto r = parse_openai_request(
        R"({"model":"llama3.2","messages":[{"role":"developer","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
            "max_tokens":7,"temperature":0.5,"top_p":0.9,"stop":"\n","seed":42,"n":1,
            "stream":true,"stream_options":{"include_usage":true},"user":"u-1"})",
        request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    const auto& m = r.value().msg;
    EXPECT_EQ(m.api_flavour, "openai");
    EXPECT_EQ(m.kind, request_kind::chat);
    EXPECT_EQ(m.model, "llama3.2");
    ASSERT_EQ(m.messages.size(), 2u);
    EXPECT_EQ(m.messages[0]["role"], "system");
    EXPECT_EQ(m.messages[0]["content"], "be brief");
    EXPECT_EQ(m.messages[1]["content"], "hi there");
    EXPECT_EQ(m.options["num_predict"], 7);
    EXPECT_EQ(m.options["temperature"], 0.5);
    EXPECT_EQ(m.options["top_p"], 0.9);
    EXPECT_EQ(m.options["stop"], nlohmann::json::array({"\n"}));
    EXPECT_EQ(m.options["seed"], 42);
    EXPECT_TRUE(m.stream);
    EXPECT_TRUE(r.value().include_usage);
    EXPECT_EQ(m.extra["user"], "u-1");
}

TEST(openai_request_parser, stream_defaults_to_false_and_max_completion_tokens_wins) {
    auto r = parse_openai_request(
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":3,"max_completion_tokens":9,
            "stop":["a","b"]})",
        request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r.value().msg.stream);
    EXPECT_FALSE(r.value().include_usage);
    EXPECT_EQ(r.value().msg.options["num_predict"], 9);
    EXPECT_EQ(r.value().msg.options["stop"], nlohmann::json::array({"a", "b"}));
}

TEST(openai_request_parser, completions_take_a_prompt_string_or_one_element_array) {
    auto r = parse_openai_request(R"({"model":"m","prompt":"once upon","suffix":"end"})", request_kind::generate);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().msg.kind, request_kind::generate);
    EXPECT_EQ(r.value().msg.prompt, "once upon");
    EXPECT_EQ(r.value().msg.extra["suffix"], "end");
    auto a = parse_openai_request(R"({"model":"m","prompt":["p"]})", request_kind::generate);
    ASSERT_TRUE(a);
    EXPECT_EQ(a.value().msg.prompt, "p");
    EXPECT_EQ(rejected(R"({"model":"m","prompt":[1,2,3]})", request_kind::generate).code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m"})", request_kind::generate).code, "missing_field");
}

TEST(openai_request_parser, json_mode_becomes_ollama_format) {
    auto r = parse_openai_request(
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}})",
        request_kind::chat);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.value().msg.extra["format"], "json");
}

TEST(openai_request_parser, rejects_what_it_cannot_serve_with_a_reason) {
    EXPECT_EQ(rejected("").code, "bad_request");
    EXPECT_EQ(rejected("{nope").code, "invalid_json");
    EXPECT_EQ(rejected("[1]").code, "invalid_json");
    EXPECT_EQ(rejected(R"({"messages":[{"role":"user","content":"x"}]})").code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":"m"})").code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[]})").code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"robot","content":"x"}]})").code, "invalid_field");
    auto n = rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})");
    EXPECT_EQ(n.code, "invalid_field");
    EXPECT_NE(n.message.find("n must be 1"), std::string::npos);
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})")
                  .code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":"x"})").code,
              "invalid_field");
    // stream_options only with stream: true (as OpenAI answers).
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                           "stream_options":{"include_usage":true}})")
                  .code,
              "invalid_field");
}

}  // namespace
}  // namespace llmp::api

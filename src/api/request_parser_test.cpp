#include "api/request_parser.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

error rejected(std::string_view body, request_kind k = request_kind::chat) {
    auto r = parse_generation_request(body, k);
    EXPECT_FALSE(r) << body;
    return r ? error{} : r.error();
}

TEST(request_parser, accepts_an_ollama_chat_body) {
    auto r = parse_generation_request(
        R"({"model":"llama3.2","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],
            "options":{"temperature":0,"num_predict":5},"stream":false,"format":"json","keep_alive":"5m","priority":2})",
        request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().model, "llama3.2");
    EXPECT_EQ(r.value().messages.size(), 2u);
    EXPECT_EQ(r.value().options["num_predict"], 5);
    EXPECT_FALSE(r.value().stream);
    EXPECT_EQ(r.value().priority, 2);
    EXPECT_EQ(r.value().extra["format"], "json");
    EXPECT_EQ(r.value().extra["keep_alive"], "5m");
}

TEST(request_parser, stream_defaults_to_true_and_generate_takes_a_prompt) {
    auto r = parse_generation_request(R"({"model":"m","prompt":"why?","system":"s"})", request_kind::generate);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r.value().stream);
    EXPECT_EQ(r.value().prompt, "why?");
    EXPECT_EQ(r.value().extra["system"], "s");
}

TEST(request_parser, rejects_with_a_clear_reason) {
    EXPECT_EQ(rejected("").code, "bad_request");
    EXPECT_EQ(rejected("{\"model\":").code, "invalid_json");
    EXPECT_EQ(rejected("[]").code, "invalid_json");
    EXPECT_EQ(rejected(R"({"messages":[]})").code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":""})").code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":"m"})").code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[]})").code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":"hi"})").code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"content":"x"}]})").code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"robot","content":"x"}]})").code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":1}]})").code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"options":[]})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"priority":42})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m"})", request_kind::generate).code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":"m","prompt":7})", request_kind::generate).code, "invalid_field");
    auto e = rejected(R"({"model":"m"})");
    EXPECT_NE(e.message.find("messages is required"), std::string::npos);
}

}  // namespace
}  // namespace llmp::api

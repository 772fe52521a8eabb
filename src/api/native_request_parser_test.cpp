#include "api/native_request_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

std::string chat_with(const std::string& fields) {
    return R"({"model":"m","messages":[{"role":"user","content":"x"}],)" + fields + "}";
}

std::string deep_array(std::size_t levels) {
    return std::string(levels, '[') + std::string(levels, ']');
}

// Every integer boundary a client can write, and the wrong types.
const char* const boundaries[] = {"0",
                                  "-1",
                                  "2147483647",
                                  "2147483648",
                                  "9007199254740992",
                                  "9223372036854775807",
                                  "9223372036854775808",
                                  "18446744073709551615",
                                  "18446744073709551616",
                                  "-9223372036854775808",
                                  "1e308",
                                  "-1e308",
                                  "3.5",
                                  "true",
                                  "\"5\"",
                                  "[]",
                                  "{}"};

/// The boundaries `field` accepts (as sent) among `boundaries`; each other one must be a 400
/// naming the field.
std::vector<std::string> accepted(const std::string& field, const std::string& where = "") {
    std::vector<std::string> ok;
    for (const char* v : boundaries) {
        auto body = where.empty() ? chat_with("\"" + field + "\":" + v)
                                  : chat_with("\"" + where + "\":{\"" + field + "\":" + v + "}");
        auto r = parse_generation_request(body, request_kind::chat);
        if (r) {
            ok.emplace_back(v);
        } else {
            EXPECT_EQ(r.error().code, "invalid_field") << body;
            EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
        }
    }
    return ok;
}

using strings = std::vector<std::string>;

// Found by the native_request fuzz target: nlohmann throws out_of_range (406) for a number beyond
// double, which the body parser did not catch; the API process terminated.
TEST(request_parser, resumable_is_a_boolean_flag_off_by_default) {
    auto plain = parse_native_generation_request(R"({"model":"m","prompt":"hi"})", request_kind::generate);
    ASSERT_TRUE(plain) << plain.error().message;
    EXPECT_FALSE(plain.value().resumable);

    auto on =
        parse_native_generation_request(R"({"model":"m","prompt":"hi","resumable":true})", request_kind::generate);
    ASSERT_TRUE(on) << on.error().message;
    EXPECT_TRUE(on.value().resumable);
    EXPECT_FALSE(on.value().message.extra.contains("resumable"));  // not passed to the provider

    auto off =
        parse_native_generation_request(R"({"model":"m","prompt":"hi","resumable":false})", request_kind::generate);
    ASSERT_TRUE(off);
    EXPECT_FALSE(off.value().resumable);

    auto text =
        parse_native_generation_request(R"({"model":"m","prompt":"hi","resumable":"yes"})", request_kind::generate);
    ASSERT_FALSE(text);
    EXPECT_EQ(text.error().code, "invalid_field");
    EXPECT_NE(text.error().message.find("resumable"), std::string::npos);

    auto whole = parse_native_generation_request(R"({"model":"m","prompt":"hi","stream":false,"resumable":true})",
                                                 request_kind::generate);
    ASSERT_FALSE(whole);
    EXPECT_NE(whole.error().message.find("resumable"), std::string::npos);
}

TEST(request_parser, a_number_beyond_double_is_a_400_not_a_crash) {
    EXPECT_EQ(rejected("1e400").code, "invalid_json");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"options":{"seed":1e400}})").code,
              "invalid_json");
}

TEST(request_parser, deep_nesting_is_refused_while_parsing) {
    // 200,000 levels anywhere: options, a pass-through key, the content, the top level.
    for (const auto& body :
         {chat_with(R"("options":{"x":)" + deep_array(200000) + "}"), chat_with(R"("format":)" + deep_array(200000)),
          R"({"model":"m","messages":[{"role":"user","content":)" + deep_array(200000) + "}]}", deep_array(200000)}) {
        auto e = rejected(body);
        EXPECT_EQ(e.code, "invalid_json");
        EXPECT_EQ(e.message, "request body is nested deeper than 64 levels");
    }
    // 64 levels (the body's object is the first) pass.
    EXPECT_TRUE(parse_generation_request(chat_with(R"("format":)" + deep_array(63)), request_kind::chat));
    EXPECT_EQ(rejected(chat_with(R"("format":)" + deep_array(64))).code, "invalid_json");
}

TEST(request_parser, priority_is_an_integer_from_0_to_9) {
    EXPECT_EQ(accepted("priority"), strings{"0"});
    for (int p : {0, 9}) {
        auto r = parse_generation_request(chat_with("\"priority\":" + std::to_string(p)), request_kind::chat);
        ASSERT_TRUE(r);
        EXPECT_EQ(r.value().priority, p);
    }
    EXPECT_EQ(rejected(chat_with("\"priority\":10")).message, "priority must be an integer from 0 to 9");
    EXPECT_EQ(rejected(chat_with("\"priority\":4294967296")).code, "invalid_field");  // wrapped to 0 before
}

TEST(request_parser, timeout_ms_is_a_positive_integer) {
    // The upper bound is the server's (the relay checks it): here only type and sign.
    EXPECT_EQ(accepted("timeout_ms"), (strings{"2147483647", "2147483648", "9007199254740992", "9223372036854775807"}));
    auto r = parse_generation_request(chat_with("\"timeout_ms\":1"), request_kind::chat);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.value().timeout_ms, 1);
}

TEST(request_parser, ollama_options_are_typed_and_ranged) {
    EXPECT_EQ(accepted("num_predict", "options"), (strings{"0", "-1", "2147483647"}));
    EXPECT_EQ(accepted("num_ctx", "options"), (strings{"2147483647"}));
    EXPECT_EQ(accepted("seed", "options"), (strings{"0", "-1", "2147483647", "2147483648", "9007199254740992",
                                                    "9223372036854775807", "-9223372036854775808"}));
    EXPECT_EQ(accepted("temperature", "options"),
              (strings{"0", "-1", "2147483647", "2147483648", "9007199254740992", "9223372036854775807",
                       "9223372036854775808", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
                       "3.5"}));
    EXPECT_EQ(accepted("top_p", "options"), (strings{"0"}));
    EXPECT_EQ(accepted("use_mmap", "options"), (strings{"true"}));
    for (const char* ok : {R"("num_predict":-2)", R"("num_predict":128,"top_k":40,"top_p":0.9,"mirostat":2)",
                           R"("stop":["x"],"unknown_option":[1])", R"("num_ctx":null)"}) {
        EXPECT_TRUE(parse_generation_request(chat_with(std::string{R"("options":{)"} + ok + "}"), request_kind::chat))
            << ok;
    }
    auto e = rejected(chat_with(R"("options":{"num_predict":-3})"));
    EXPECT_EQ(e.code, "invalid_field");
    EXPECT_EQ(e.message, "options.num_predict must be an integer from -2 to 2147483647");
    EXPECT_EQ(rejected(chat_with(R"("options":{"num_predict":"5"})")).code, "invalid_field");
}

TEST(request_parser, the_ollama_front_door_and_generate_share_the_checks) {
    EXPECT_EQ(rejected(R"({"model":"m","prompt":"p","options":{"num_predict":1e308}})", request_kind::generate).code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","prompt":"p","priority":3.5})", request_kind::generate).code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","prompt":)" + deep_array(200000) + "}", request_kind::generate).code,
              "invalid_json");
}

}  // namespace
}  // namespace llmp::api

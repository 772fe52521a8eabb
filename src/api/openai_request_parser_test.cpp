#include "api/openai_request_parser.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

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
    auto n = rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":17})");
    EXPECT_EQ(n.code, "invalid_field");
    EXPECT_NE(n.message.find("n must be an integer from 1 to 16"), std::string::npos) << n.message;
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":"x"})").code, "invalid_field");
    // stream_options only with stream: true (as OpenAI answers).
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],
                           "stream_options":{"include_usage":true}})")
                  .code,
              "invalid_field");
}

TEST(openai_request_parser, tools_and_a_tool_history_become_ollamas_shape) {
    auto r = parse_openai_request(
        R"({"model":"m","messages":[
              {"role":"user","content":"weather in Paris?"},
              {"role":"assistant","content":null,"tool_calls":[
                 {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"sunny"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
            "tool_choice":"required","parallel_tool_calls":false})",
        request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    const auto& m = r.value().msg;
    ASSERT_EQ(m.messages.size(), 3u);
    EXPECT_EQ(m.messages[1], nlohmann::json::parse(R"({"role":"assistant","content":"","tool_calls":[
                 {"id":"call_1","function":{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}}]})"));
    EXPECT_EQ(m.messages[2],
              nlohmann::json::parse(
                  R"({"role":"tool","content":"sunny","tool_call_id":"call_1","tool_name":"get_weather"})"));
    EXPECT_EQ(m.extra["tools"][0]["function"]["name"], "get_weather");
    EXPECT_EQ(m.extra["tool_choice"], "required");
    EXPECT_EQ(m.extra["parallel_tool_calls"], false);
}

TEST(openai_request_parser, malformed_tool_fields_are_400s_naming_the_field) {
    auto with = [](const std::string& fields) {
        return R"({"model":"m","messages":[{"role":"user","content":"x"}],)" + fields + "}";
    };
    auto tool = std::string{R"("tools":[{"type":"function","function":{"name":"f"}}])"};
    for (const auto& body :
         {with(R"("tools":{})"), with(R"("tools":[{"type":"function"}])"),
          with(R"("tools":[{"type":"code","function":{"name":"f"}}])"), with(R"("tool_choice":"auto")"),
          with(tool + R"(,"tool_choice":"always")"), with(tool + R"(,"tool_choice":{"type":"function"})"),
          with(tool + R"(,"parallel_tool_calls":"yes")")}) {
        EXPECT_EQ(rejected(body).code, "invalid_field") << body;
    }
    auto bad_args = rejected(R"({"model":"m","messages":[{"role":"assistant","tool_calls":[
        {"id":"c","type":"function","function":{"name":"f","arguments":"not json"}}]}]})");
    EXPECT_NE(bad_args.message.find("messages[0].tool_calls[0].function.arguments"), std::string::npos);
    auto no_id = rejected(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})");
    EXPECT_NE(no_id.message.find("tool_call_id"), std::string::npos);
}

std::string chat_with(const std::string& fields) {
    return R"({"model":"m","messages":[{"role":"user","content":"x"}],)" + fields + "}";
}

std::string deep_array(std::size_t levels) {
    return std::string(levels, '[') + std::string(levels, ']');
}

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

/// The boundaries `field` accepts; each other one must be a 400 naming the field.
std::vector<std::string> accepted(const std::string& field) {
    std::vector<std::string> ok;
    for (const char* v : boundaries) {
        auto body = chat_with("\"" + field + "\":" + v);
        auto r = parse_openai_request(body, request_kind::chat);
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

TEST(openai_request_parser, deep_nesting_is_refused_while_parsing) {
    for (const auto& body :
         {chat_with(R"("response_format":{"type":"json_schema","json_schema":{"schema":)" + deep_array(200000) + "}}"),
          chat_with(R"("tools":)" + deep_array(200000)),
          R"({"model":"m","messages":[{"role":"user","content":)" + deep_array(200000) + "}]}"}) {
        auto e = rejected(body);
        EXPECT_EQ(e.code, "invalid_json");
        EXPECT_EQ(e.message, "request body is nested deeper than 64 levels");
    }
}

TEST(openai_request_parser, integer_fields_are_typed_and_ranged) {
    EXPECT_EQ(accepted("max_tokens"), (strings{"2147483647"}));
    EXPECT_EQ(accepted("max_completion_tokens"), (strings{"2147483647"}));
    EXPECT_EQ(accepted("n"), strings{});
    EXPECT_EQ(accepted("seed"), (strings{"0", "-1", "2147483647", "2147483648", "9007199254740992",
                                         "9223372036854775807", "-9223372036854775808"}));
    auto r = parse_openai_request(chat_with(R"("max_tokens":1,"n":1,"seed":9223372036854775807)"), request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().msg.options["num_predict"], 1);
    EXPECT_EQ(r.value().msg.options["seed"], INT64_MAX);
    EXPECT_EQ(rejected(chat_with(R"("max_tokens":2147483648)")).message,
              "max_tokens must be an integer from 1 to 2147483647");
    EXPECT_EQ(rejected(chat_with(R"("seed":18446744073709551615)")).code, "invalid_field");  // was passed on
}

TEST(openai_request_parser, sampling_numbers_are_ranged) {
    EXPECT_EQ(accepted("temperature"), (strings{"0"}));
    EXPECT_EQ(accepted("top_p"), (strings{"0"}));
    EXPECT_EQ(accepted("presence_penalty"), (strings{"0", "-1"}));
    EXPECT_EQ(accepted("frequency_penalty"), (strings{"0", "-1"}));
    EXPECT_EQ(rejected(chat_with(R"("temperature":2.5)")).message, "temperature must be a number from 0 to 2");
}

// A non-string type used to throw out of the parser and drop the connection.
TEST(openai_request_parser, response_format_of_any_shape_is_a_400_or_a_format) {
    for (const char* rf :
         {R"({"type":5})", R"({"type":["json_object"]})", R"({"type":{"a":1}})", R"({"type":null})", R"({"type":true})",
          R"({})", R"("json_object")", R"(5)", R"([])", R"({"type":"yaml"})", R"({"type":"json_schema"})",
          R"({"type":"json_schema","json_schema":5})", R"({"type":"json_schema","json_schema":{"schema":"s"}})",
          R"({"type":"json_schema","json_schema":{"name":"x"}})"}) {
        auto r = parse_openai_request(chat_with(std::string{R"("response_format":)"} + rf), request_kind::chat);
        ASSERT_FALSE(r) << rf;
        EXPECT_EQ(r.error().code, "invalid_field") << rf;
        EXPECT_NE(r.error().message.find("response_format"), std::string::npos) << r.error().message;
    }
    auto schema = parse_openai_request(
        chat_with(R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}})"),
        request_kind::chat);
    ASSERT_TRUE(schema) << schema.error().message;
    EXPECT_EQ(schema.value().msg.extra["format"], nlohmann::json({{"type", "object"}}));
    EXPECT_EQ(schema.value().msg.extra["response_format"]["json_schema"]["name"], "x");  // kept for OpenAI upstreams
    auto text = parse_openai_request(chat_with(R"("response_format":{"type":"text"})"), request_kind::chat);
    ASSERT_TRUE(text);
    EXPECT_FALSE(text.value().msg.extra.contains("format"));
    EXPECT_FALSE(text.value().msg.extra.contains("response_format"));
}

}  // namespace
}  // namespace llmp::api

namespace llmp::api {
namespace {

TEST(openai_request_parser, user_and_metadata_are_kept_for_the_audit) {
    auto r = parse_openai_request(
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"user":"u-7","metadata":{"team":"search"}})",
        request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().msg.extra["user"], "u-7");
    EXPECT_EQ(r.value().msg.extra["metadata"], nlohmann::json({{"team", "search"}}));
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"metadata":{"n":1}})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","messages":[{"role":"user","content":"x"}],"metadata":"x"})").code,
              "invalid_field");
}

TEST(openai_request_parser, logprobs_and_top_logprobs_go_to_extra_in_both_upstreams_terms) {
    // A chat body open at its end: each case adds its fields and the closing brace.
    const std::string chat = R"({"model":"m","messages":[{"role":"user","content":"x"}])";
    auto with = [&](const std::string& fields) { return chat + "," + fields + "}"; };
    auto r = parse_openai_request(with(R"("logprobs":true,"top_logprobs":3)"), request_kind::chat);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().msg.extra["logprobs"], true);
    EXPECT_EQ(r.value().msg.extra["top_logprobs"], 3);
    r = parse_openai_request(with(R"("logprobs":false,"top_logprobs":null)"), request_kind::chat);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r.value().msg.extra.contains("logprobs"));
    EXPECT_FALSE(r.value().msg.extra.contains("top_logprobs"));
    auto alone = rejected(with(R"("top_logprobs":2)"));
    EXPECT_EQ(alone.code, "invalid_field");
    EXPECT_NE(alone.message.find("requires logprobs"), std::string::npos) << alone.message;
    EXPECT_EQ(rejected(with(R"("logprobs":true,"top_logprobs":21)")).code, "invalid_field");
    EXPECT_EQ(rejected(with(R"("logprobs":1)")).code, "invalid_field");
    auto legacy = parse_openai_request(R"({"model":"m","prompt":"x","logprobs":2})", request_kind::generate);
    ASSERT_FALSE(legacy);
    EXPECT_NE(legacy.error().message.find("/v1/chat/completions only"), std::string::npos);
    // n: 2..16 choices on chat, kept in extra.n; 1 leaves the request as it was; /v1/completions
    // keeps one choice, with a 400 that says what to do instead.
    auto three = parse_openai_request(with(R"("n":3)"), request_kind::chat);
    ASSERT_TRUE(three);
    EXPECT_EQ(three.value().n, 3);
    EXPECT_EQ(three.value().msg.extra["n"], 3);
    auto one = parse_openai_request(with(R"("n":1)"), request_kind::chat);
    ASSERT_TRUE(one);
    EXPECT_EQ(one.value().n, 1);
    EXPECT_FALSE(one.value().msg.extra.contains("n"));
    for (const char* bad : {R"("n":0)", R"("n":17)", R"("n":2.5)", R"("n":"2")"}) {
        EXPECT_EQ(rejected(with(bad)).code, "invalid_field") << bad;
    }
    auto completions = parse_openai_request(R"({"model":"m","prompt":"x","n":2})", request_kind::generate);
    ASSERT_FALSE(completions);
    EXPECT_NE(completions.error().message.find("/v1/chat/completions only"), std::string::npos);
    EXPECT_TRUE(parse_openai_request(R"({"model":"m","prompt":"x","n":1})", request_kind::generate));
}

}  // namespace
}  // namespace llmp::api

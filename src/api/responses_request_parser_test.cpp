#include "api/responses_request_parser.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace llmp::api {
namespace {

using json = nlohmann::json;

responses_request parse_ok(const json& body) {
    auto r = parse_responses_request(body.dump());
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(r.value()) : responses_request{};
}

std::string refusal(const json& body) {
    auto r = parse_responses_request(body.dump());
    EXPECT_FALSE(r) << body.dump();
    return r ? std::string{} : r.error().code + ": " + r.error().message;
}

TEST(responses_request_parser, a_string_input_is_one_user_message_and_one_input_text_item) {
    auto r = parse_ok({{"model", "mock"}, {"input", "hello"}});
    EXPECT_EQ(r.msg.kind, request_kind::chat);
    EXPECT_EQ(r.msg.api_flavour, "openai");
    EXPECT_FALSE(r.msg.stream);  // OpenAI's default
    EXPECT_EQ(r.msg.messages, json::parse(R"([{"role":"user","content":"hello"}])"));
    ASSERT_EQ(r.input_items.size(), 1u);
    EXPECT_EQ(r.input_items[0]["type"], "message");
    EXPECT_EQ(r.input_items[0]["role"], "user");
    EXPECT_TRUE(r.input_items[0]["id"].get<std::string>().starts_with("msg_"));
    EXPECT_EQ(r.input_items[0]["content"], json::parse(R"([{"type":"input_text","text":"hello"}])"));
}

TEST(responses_request_parser, message_items_join_their_input_text_parts_and_developer_is_system) {
    auto r = parse_ok(json::parse(R"({"model":"m","input":[
        {"role":"developer","content":"be brief"},
        {"type":"message","role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},
        {"role":"assistant","content":[{"type":"output_text","text":"c"}]}]})"));
    EXPECT_EQ(r.msg.messages, json::parse(R"([{"role":"system","content":"be brief"},{"role":"user","content":"ab"},
                                              {"role":"assistant","content":"c"}])"));
    EXPECT_EQ(r.input_items[2]["content"][0]["type"], "output_text");
}

TEST(responses_request_parser, function_call_and_output_items_become_a_tool_call_and_a_named_tool_message) {
    auto r = parse_ok(json::parse(R"({"model":"m","input":[
        {"role":"user","content":"weather?"},
        {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Oslo\"}"},
        {"type":"function_call_output","call_id":"call_1","output":"sunny"}]})"));
    name_tool_results(r.msg.messages);
    EXPECT_EQ(r.msg.messages, json::parse(R"([{"role":"user","content":"weather?"},
        {"role":"assistant","content":"","tool_calls":[{"id":"call_1","function":{"index":0,"name":"get_weather","arguments":{"city":"Oslo"}}}]},
        {"role":"tool","content":"sunny","tool_call_id":"call_1","tool_name":"get_weather"}])"));
    EXPECT_EQ(r.input_items[1]["type"], "function_call");
    EXPECT_EQ(r.input_items[1]["arguments"], "{\"city\":\"Oslo\"}");
    EXPECT_EQ(r.input_items[2]["type"], "function_call_output");
    EXPECT_EQ(r.input_items[2]["output"], "sunny");
}

TEST(responses_request_parser, a_tool_result_is_named_from_a_call_in_the_earlier_conversation) {
    auto messages = json::parse(R"([
        {"role":"assistant","content":"","tool_calls":[{"id":"call_9","function":{"index":0,"name":"lookup","arguments":{}}}]},
        {"role":"tool","content":"x","tool_call_id":"call_9"},
        {"role":"tool","content":"y","tool_call_id":"call_unknown"}])");
    name_tool_results(messages);
    EXPECT_EQ(messages[1]["tool_name"], "lookup");
    EXPECT_FALSE(messages[2].contains("tool_name"));
}

TEST(responses_request_parser, instructions_go_to_extra_system_not_into_the_messages) {
    auto r = parse_ok({{"model", "m"}, {"input", "hi"}, {"instructions", "Answer in French."}});
    EXPECT_EQ(r.msg.extra["system"], "Answer in French.");
    EXPECT_EQ(r.msg.messages.size(), 1u);
    EXPECT_EQ(r.echo["instructions"], "Answer in French.");
}

TEST(responses_request_parser, function_tools_map_to_chat_completions_tools_and_tool_choice) {
    auto r = parse_ok(json::parse(R"({"model":"m","input":"hi",
        "tools":[{"type":"function","name":"get_weather","description":"d","parameters":{"type":"object"},"strict":true}],
        "tool_choice":{"type":"function","name":"get_weather"},"parallel_tool_calls":false})"));
    EXPECT_EQ(r.msg.extra["tools"], json::parse(R"([{"type":"function","function":{"name":"get_weather",
        "description":"d","parameters":{"type":"object"},"strict":true}}])"));
    EXPECT_EQ(r.msg.extra["tool_choice"], json::parse(R"({"type":"function","function":{"name":"get_weather"}})"));
    EXPECT_EQ(r.msg.extra["parallel_tool_calls"], false);
    EXPECT_EQ(r.echo["tools"][0]["name"], "get_weather");  // echoed in the Responses shape
}

TEST(responses_request_parser, text_format_json_schema_is_passed_on_like_response_format) {
    auto r = parse_ok(json::parse(R"({"model":"m","input":"hi",
        "text":{"format":{"type":"json_schema","name":"city","schema":{"type":"object"},"strict":true}}})"));
    EXPECT_EQ(r.msg.extra["format"], json::parse(R"({"type":"object"})"));
    EXPECT_EQ(r.msg.extra["response_format"], json::parse(R"({"type":"json_schema",
        "json_schema":{"name":"city","schema":{"type":"object"},"strict":true}})"));
    EXPECT_EQ(r.echo["text"]["format"]["name"], "city");
    auto j = parse_ok(json::parse(R"({"model":"m","input":"hi","text":{"format":{"type":"json_object"}}})"));
    EXPECT_EQ(j.msg.extra["format"], "json");
    auto t = parse_ok(json::parse(R"({"model":"m","input":"hi","text":{"format":{"type":"text"}}})"));
    EXPECT_FALSE(t.msg.extra.contains("format"));
}

TEST(responses_request_parser, max_output_tokens_temperature_and_top_p_become_options) {
    auto r = parse_ok({{"model", "m"}, {"input", "hi"}, {"max_output_tokens", 5}, {"temperature", 0.5}, {"top_p", 1}});
    EXPECT_EQ(r.msg.options["num_predict"], 5);
    EXPECT_EQ(r.msg.options["temperature"], 0.5);
    EXPECT_EQ(r.msg.options["top_p"], 1);
    EXPECT_EQ(r.echo["max_output_tokens"], 5);
    EXPECT_NE(refusal({{"model", "m"}, {"input", "hi"}, {"temperature", 3}}).find("temperature"), std::string::npos);
    EXPECT_NE(refusal({{"model", "m"}, {"input", "hi"}, {"max_output_tokens", 0}}).find("max_output_tokens"),
              std::string::npos);
}

TEST(responses_request_parser, store_defaults_to_true_and_stream_to_false) {
    auto r = parse_ok({{"model", "m"}, {"input", "hi"}});
    EXPECT_TRUE(r.store);
    EXPECT_EQ(r.echo["store"], true);
    auto s = parse_ok({{"model", "m"}, {"input", "hi"}, {"store", false}, {"stream", true}});
    EXPECT_FALSE(s.store);
    EXPECT_TRUE(s.msg.stream);
    EXPECT_EQ(s.echo["store"], false);
}

TEST(responses_request_parser, previous_response_id_must_be_one_of_ours) {
    auto r = parse_ok({{"model", "m"}, {"input", "hi"}, {"previous_response_id", "resp_0a1b-2c"}});
    EXPECT_EQ(r.previous_response_id, "resp_0a1b-2c");
    EXPECT_EQ(r.echo["previous_response_id"], "resp_0a1b-2c");
    EXPECT_NE(refusal({{"model", "m"}, {"input", "hi"}, {"previous_response_id", "chatcmpl-1"}}).find("resp_"),
              std::string::npos);
}

TEST(responses_request_parser, response_ids_map_to_request_ids_and_back) {
    EXPECT_EQ(response_id_of("6f1c-22"), "resp_6f1c-22");
    EXPECT_EQ(request_id_of_response("resp_6f1c-22"), "6f1c-22");
    EXPECT_EQ(request_id_of_response("resp_"), "");
    EXPECT_EQ(request_id_of_response("resp_x'; --"), "");
    EXPECT_EQ(request_id_of_response("msg_12"), "");
}

TEST(responses_request_parser, background_is_kept_and_echoed) {
    auto r = parse_responses_request(json{{"model", "m"}, {"input", "hi"}, {"background", true}}.dump());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r.value().background);
    EXPECT_EQ(r.value().echo["background"], true);
    auto plain = parse_responses_request(json{{"model", "m"}, {"input", "hi"}}.dump());
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain.value().background);
    EXPECT_FALSE(plain.value().echo.contains("background"));
}

TEST(responses_request_parser, refuses_what_it_cannot_serve_with_400_codes) {
    EXPECT_EQ(refusal({{"input", "hi"}}).rfind("missing_field", 0), 0u);
    EXPECT_EQ(refusal({{"model", "m"}}).rfind("missing_field", 0), 0u);
    EXPECT_NE(refusal({{"model", "m"}, {"input", json::array()}}).find("non-empty"), std::string::npos);
    EXPECT_NE(
        refusal(json::parse(R"({"model":"m","input":[{"type":"item_reference","id":"x"}]})")).find("item_reference"),
        std::string::npos);
    EXPECT_NE(refusal(json::parse(R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image"}]}]})"))
                  .find("input_text"),
              std::string::npos);
    EXPECT_NE(refusal(json::parse(R"({"model":"m","input":"hi","tools":[{"type":"web_search"}]})")).find("function"),
              std::string::npos);
    EXPECT_NE(refusal(json::parse(R"({"model":"m","input":"hi","tool_choice":"auto"})")).find("tools"),
              std::string::npos);
    EXPECT_NE(refusal({{"model", "m"}, {"input", "hi"}, {"background", true}, {"store", false}}).find("store"),
              std::string::npos);
    EXPECT_NE(refusal({{"model", "m"}, {"input", "hi"}, {"background", true}, {"stream", true}}).find("stream"),
              std::string::npos);
    EXPECT_EQ(refusal({{"model", "m"}, {"input", "hi"}, {"background", "yes"}}).rfind("invalid_field", 0), 0u);
    EXPECT_NE(refusal(json::parse(R"({"model":"m","input":[{"type":"function_call","call_id":"c","name":"f",
        "arguments":"[1]"}]})"))
                  .find("arguments"),
              std::string::npos);
    EXPECT_EQ(refusal(json::parse(R"({"model":"m","input":"hi","store":"yes"})")).rfind("invalid_field", 0), 0u);
}

}  // namespace
}  // namespace llmp::api

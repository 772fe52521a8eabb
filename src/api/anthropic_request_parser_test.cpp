#include "api/anthropic_request_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace llmp::api {
namespace {

using json = nlohmann::json;

request_message parsed(std::string_view body) {
    auto r = parse_anthropic_request(body);
    EXPECT_TRUE(r) << (r ? "" : r.error().message) << "\n" << body;
    return r ? std::move(r.value()) : request_message{};
}

error rejected(std::string_view body) {
    auto r = parse_anthropic_request(body);
    EXPECT_FALSE(r) << body;
    return r ? error{} : r.error();
}

TEST(anthropic_request_parser, a_plain_body_is_a_chat_with_max_tokens_as_num_predict_and_no_stream) {
    auto m = parsed(R"({"model":"claude-x","max_tokens":7,"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(m.api_flavour, "anthropic");
    EXPECT_EQ(m.kind, request_kind::chat);
    EXPECT_EQ(m.model, "claude-x");
    EXPECT_FALSE(m.stream);
    EXPECT_EQ(m.options, json({{"num_predict", 7}}));
    EXPECT_EQ(m.messages, json::parse(R"([{"role":"user","content":"hi"}])"));
    EXPECT_EQ(m.extra, json::object());
}

TEST(anthropic_request_parser, max_tokens_is_required_as_anthropic_requires_it) {
    auto e = rejected(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(e.code, "missing_field");
    EXPECT_NE(e.message.find("max_tokens"), std::string::npos);
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]})").code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":"5","messages":[{"role":"user","content":"hi"}]})").code,
              "invalid_field");
}

TEST(anthropic_request_parser, model_and_messages_are_required) {
    EXPECT_EQ(rejected(R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"}]})").code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5})").code, "missing_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[]})").code, "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]})").code,
              "invalid_field");
    EXPECT_EQ(rejected("{\"model\": ").code, "invalid_json");
}

TEST(anthropic_request_parser, system_as_a_string_or_text_blocks_becomes_the_first_message) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"system":"be brief","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(m.messages[0], json({{"role", "system"}, {"content", "be brief"}}));
    EXPECT_EQ(m.messages.size(), 2u);
    m = parsed(R"({"model":"m","max_tokens":5,
        "system":[{"type":"text","text":"be "},{"type":"text","text":"brief","cache_control":{"type":"ephemeral"}}],
        "messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(m.messages[0], json({{"role", "system"}, {"content", "be brief"}}));
    EXPECT_EQ(
        rejected(
            R"({"model":"m","max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]})")
            .code,
        "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"system":7,"messages":[{"role":"user","content":"x"}]})").code,
              "invalid_field");
}

TEST(anthropic_request_parser, text_blocks_of_a_message_are_joined) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"messages":[
        {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]},
        {"role":"assistant","content":[{"type":"text","text":"hello"}]}]})");
    EXPECT_EQ(m.messages,
              json::parse(R"([{"role":"user","content":"hi there"},{"role":"assistant","content":"hello"}])"));
}

TEST(anthropic_request_parser, blocks_other_than_text_tool_use_and_tool_result_are_refused) {
    auto e = rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]})");
    EXPECT_EQ(e.code, "invalid_field");
    EXPECT_NE(e.message.find("messages[0].content[0].type 'image'"), std::string::npos) << e.message;
    // tool_use belongs to the assistant, tool_result to the user.
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
        {"type":"tool_use","id":"t","name":"f","input":{}}]}]})")
                  .code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[
        {"type":"tool_result","tool_use_id":"t","content":"x"}]}]})")
                  .code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]})").code,
              "invalid_field");
}

TEST(anthropic_request_parser, sampling_options_keep_their_names_and_anthropics_ranges) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":40,
        "messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(m.options, json({{"num_predict", 5}, {"temperature", 0.5}, {"top_p", 0.9}, {"top_k", 40}}));
    EXPECT_EQ(
        rejected(R"({"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]})").code,
        "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"top_p":-0.1,"messages":[{"role":"user","content":"x"}]})").code,
              "invalid_field");
}

TEST(anthropic_request_parser, stop_sequences_become_the_stop_option) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"stop_sequences":["\n\nHuman:","END"],
        "messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(m.options["stop"], json::array({"\n\nHuman:", "END"}));
    EXPECT_FALSE(
        parsed(R"({"model":"m","max_tokens":5,"stop_sequences":[],"messages":[{"role":"user","content":"x"}]})")
            .options.contains("stop"));
    EXPECT_EQ(
        rejected(R"({"model":"m","max_tokens":5,"stop_sequences":"END","messages":[{"role":"user","content":"x"}]})")
            .code,
        "invalid_field");
}

TEST(anthropic_request_parser, stream_is_a_boolean) {
    EXPECT_TRUE(
        parsed(R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]})").stream);
    EXPECT_EQ(
        rejected(R"({"model":"m","max_tokens":5,"stream":"yes","messages":[{"role":"user","content":"x"}]})").code,
        "invalid_field");
}

TEST(anthropic_request_parser, tools_become_openai_function_tools) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tools":[{"name":"get_weather","description":"the weather","input_schema":{"type":"object"}},
                 {"type":"custom","name":"f","input_schema":{"type":"object","properties":{}}}]})");
    EXPECT_EQ(m.extra["tools"], json::parse(R"([
        {"type":"function","function":{"name":"get_weather","description":"the weather","parameters":{"type":"object"}}},
        {"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}])"));
    EXPECT_FALSE(m.extra.contains("tool_choice"));
    // Server tools and tools without a schema are refused.
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tools":[{"type":"web_search_20250305","name":"web_search"}]})")
                  .code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tools":[{"name":"f"}]})")
                  .code,
              "invalid_field");
}

TEST(anthropic_request_parser, tool_choice_maps_to_openais_terms) {
    auto choice = [](const std::string& c) {
        return parsed(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
            "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":)" +
                      c + "}")
            .extra;
    };
    EXPECT_EQ(choice(R"({"type":"auto"})")["tool_choice"], "auto");
    EXPECT_EQ(choice(R"({"type":"any"})")["tool_choice"], "required");
    EXPECT_EQ(choice(R"({"type":"none"})")["tool_choice"], "none");
    EXPECT_EQ(choice(R"({"type":"tool","name":"f"})")["tool_choice"],
              json::parse(R"({"type":"function","function":{"name":"f"}})"));
    auto serial = choice(R"({"type":"auto","disable_parallel_tool_use":true})");
    EXPECT_EQ(serial["parallel_tool_calls"], false);
    EXPECT_FALSE(choice(R"({"type":"auto","disable_parallel_tool_use":false})").contains("parallel_tool_calls"));
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tools":[{"name":"f","input_schema":{}}],"tool_choice":"auto"})")
                  .code,
              "invalid_field");
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tool_choice":{"type":"tool","name":"f"}})")
                  .code,
              "invalid_field");
    // No tools: auto and none have nothing to choose from and are dropped.
    EXPECT_EQ(parsed(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
        "tool_choice":{"type":"auto"}})")
                  .extra,
              json::object());
}

TEST(anthropic_request_parser, an_assistants_tool_use_blocks_become_its_tool_calls) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"messages":[
        {"role":"user","content":"weather?"},
        {"role":"assistant","content":[{"type":"text","text":"Let me look."},
            {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
            {"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}]}]})");
    ASSERT_EQ(m.messages.size(), 2u);
    EXPECT_EQ(m.messages[1], json::parse(R"({"role":"assistant","content":"Let me look.","tool_calls":[
        {"id":"toolu_1","function":{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}},
        {"id":"toolu_2","function":{"index":1,"name":"get_time","arguments":{}}}]})"));
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[
        {"type":"tool_use","id":"t","name":"f","input":"{}"}]}]})")
                  .code,
              "invalid_field");
}

TEST(anthropic_request_parser, a_users_tool_results_become_named_tool_messages_before_its_text) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"messages":[
        {"role":"user","content":"weather?"},
        {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
        {"role":"user","content":[
            {"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}]},
            {"type":"tool_result","tool_use_id":"toolu_x","content":"no such call","is_error":true},
            {"type":"text","text":"and tomorrow?"}]}]})");
    ASSERT_EQ(m.messages.size(), 5u) << m.messages.dump();
    EXPECT_EQ(m.messages[1]["content"], "");
    EXPECT_EQ(m.messages[2],
              json::parse(R"({"role":"tool","content":"sunny","tool_call_id":"toolu_1","tool_name":"get_weather"})"));
    EXPECT_EQ(m.messages[3],
              json::parse(R"({"role":"tool","content":"Error: no such call","tool_call_id":"toolu_x"})"));
    EXPECT_EQ(m.messages[4], json::parse(R"({"role":"user","content":"and tomorrow?"})"));
    // Only tool results: no empty user message after them.
    auto only = parsed(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
        {"type":"tool_result","tool_use_id":"t","content":"x"}]}]})");
    EXPECT_EQ(only.messages, json::parse(R"([{"role":"tool","content":"x","tool_call_id":"t"}])"));
    EXPECT_EQ(rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
        {"type":"tool_result","content":"x"}]}]})")
                  .code,
              "invalid_field");
}

TEST(anthropic_request_parser, metadata_user_id_is_kept_as_the_user_and_unknown_fields_are_ignored) {
    auto m = parsed(R"({"model":"m","max_tokens":5,"metadata":{"user_id":"u-1"},"thinking":{"type":"disabled"},
        "service_tier":"auto","messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(m.extra, json({{"user", "u-1"}}));
    EXPECT_EQ(
        rejected(R"({"model":"m","max_tokens":5,"metadata":{"user_id":1},"messages":[{"role":"user","content":"x"}]})")
            .code,
        "invalid_field");
}

}  // namespace
}  // namespace llmp::api

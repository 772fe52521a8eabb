#include "common/tool_calls.hpp"

#include "common/messages.hpp"

#include <gtest/gtest.h>

namespace llmp {
namespace {

using json = nlohmann::json;

TEST(tool_calls, ollama_calls_become_the_contract_shape_with_arguments_as_text) {
    auto calls = json::parse(R"([
        {"id": "call_abc12345", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}},
        {"function": {"name": "get_time", "arguments": {}}},
        {"function": {"arguments": {"x": 1}}},
        "junk"
    ])");
    auto out = tool_calls_from_ollama(calls);
    ASSERT_EQ(out.size(), 2u);  // the nameless and the junk entries are skipped
    EXPECT_EQ(out[0], json::parse(R"({"id": "call_abc12345", "type": "function",
                                      "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})"));
    EXPECT_EQ(out[1]["function"]["arguments"], "{}");
    auto id = out[1]["id"].get<std::string>();  // made up, Ollama-like
    EXPECT_EQ(id.size(), 13u);
    EXPECT_EQ(id.rfind("call_", 0), 0u);
    EXPECT_TRUE(tool_calls_from_ollama(json::object()).empty());
}

TEST(tool_calls, contract_calls_become_ollama_objects_with_their_index) {
    auto calls = json::parse(R"([
        {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{\"n\":42}"}},
        {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": "not json"}}
    ])");
    auto out = tool_calls_to_ollama(calls);
    EXPECT_EQ(out, json::parse(R"([
        {"id": "call_1", "function": {"index": 0, "name": "a", "arguments": {"n": 42}}},
        {"id": "call_2", "function": {"index": 1, "name": "b", "arguments": {}}}
    ])"));
}

TEST(tool_calls, the_assembler_joins_streamed_fragments_as_the_openai_sdk_does) {
    tool_call_assembler a;
    EXPECT_TRUE(a.empty());
    a.add(json::parse(
        R"([{"index":0,"id":"call_x","type":"function","function":{"name":"get_weather","arguments":""}}])"));
    a.add(json::parse(R"([{"index":0,"function":{"arguments":"{\"ci"}}])"));
    a.add(json::parse(
        R"([{"index":1,"id":"call_y","type":"function","function":{"name":"get_time","arguments":"{}"}}])"));
    a.add(json::parse(R"([{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}])"));
    a.add(json::parse(R"("not an array")"));
    a.add(json::parse(R"([{"index":-1,"function":{"arguments":"x"}}, 7])"));
    EXPECT_FALSE(a.empty());
    auto out = a.take();
    EXPECT_EQ(out, json::parse(R"([
        {"id": "call_x", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_y", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    ])"));
    EXPECT_TRUE(a.empty());
}

TEST(tool_calls, indices_past_nine_keep_their_order) {
    tool_call_assembler a;
    for (int i = 11; i >= 0; --i) {
        a.add(json::array({{{"index", i}, {"id", "c" + std::to_string(i)}, {"function", {{"name", "f"}}}}}));
    }
    auto out = a.take();
    ASSERT_EQ(out.size(), 12u);
    for (int i = 0; i < 12; ++i) {
        EXPECT_EQ(out[i]["id"], "c" + std::to_string(i));
    }
}

TEST(tool_calls, a_final_carries_them_and_one_without_is_unchanged_on_the_wire) {
    final_message f;
    f.text = "";
    auto plain = encode(f);
    EXPECT_EQ(plain.find("tool_calls"), std::string::npos);
    f.tool_calls = json::parse(R"([{"id":"call_1","type":"function","function":{"name":"a","arguments":"{}"}}])");
    f.done_reason = "tool_calls";
    auto back = decode_final(encode(f));
    ASSERT_TRUE(back);
    EXPECT_EQ(back.value().tool_calls, f.tool_calls);
    EXPECT_EQ(back.value().done_reason, "tool_calls");
    auto old = decode_final(plain);
    ASSERT_TRUE(old);
    EXPECT_TRUE(old.value().tool_calls.empty());
}

}  // namespace
}  // namespace llmp

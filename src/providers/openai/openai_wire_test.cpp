#include "providers/openai/openai_wire.hpp"

#include "providers/error_text.hpp"

#include <gtest/gtest.h>

namespace llmp::providers::openai {
namespace {

using json = nlohmann::json;

TEST(openai_wire, chat_body_maps_messages_options_and_extra) {
    generation_request r;
    r.kind = request_kind::chat;
    r.model = "gpt-4o-mini:latest";
    r.messages = json::array(
        {json{{"role", "user"}, {"content", "look"}, {"images", json::array({"/9j/AAAA", "iVBORw0"})}},
         json{{"role", "assistant"},
              {"content", ""},
              {"tool_calls", json::array({json{{"function", json{{"name", "f"}, {"arguments", json{{"x", 1}}}}}}})}},
         json{{"role", "tool"}, {"content", "42"}, {"tool_name", "f"}}});
    r.options = json{{"num_predict", 7}, {"temperature", 0.5}, {"top_p", 0.9}, {"stop", json::array({"\n"})},
                     {"seed", 3},        {"num_ctx", 4096},    {"top_k", 40}};
    r.extra = json{{"system", "Be brief."}, {"format", "json"}, {"keep_alive", "5m"}, {"think", true}};
    auto body = json::parse(request_body(r, "gpt-4o-mini"));
    EXPECT_EQ(body["model"], "gpt-4o-mini");
    EXPECT_EQ(body["stream"], true);
    EXPECT_EQ(body["stream_options"], (json{{"include_usage", true}}));
    EXPECT_EQ(body["max_tokens"], 7);
    EXPECT_EQ(body["temperature"], 0.5);
    EXPECT_EQ(body["top_p"], 0.9);
    EXPECT_EQ(body["stop"], json::array({"\n"}));
    EXPECT_EQ(body["seed"], 3);
    for (const char* dropped : {"num_ctx", "top_k", "options", "keep_alive", "think", "system", "format"}) {
        EXPECT_FALSE(body.contains(dropped)) << dropped;
    }
    EXPECT_EQ(body["response_format"], (json{{"type", "json_object"}}));
    // An OpenAI client's response_format goes as it was sent (its name and strict kept).
    auto sent =
        json::parse(R"({"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":{"type":"object"}}})");
    r.extra["response_format"] = sent;
    EXPECT_EQ(json::parse(request_body(r, "gpt-4o-mini"))["response_format"], sent);
    r.extra.erase("response_format");
    const auto& m = body["messages"];
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0], (json{{"role", "system"}, {"content", "Be brief."}}));
    EXPECT_EQ(
        m[1]["content"],
        json::array({json{{"type", "text"}, {"text", "look"}},
                     json{{"type", "image_url"}, {"image_url", json{{"url", "data:image/jpeg;base64,/9j/AAAA"}}}},
                     json{{"type", "image_url"}, {"image_url", json{{"url", "data:image/png;base64,iVBORw0"}}}}}));
    EXPECT_FALSE(m[1].contains("images"));
    EXPECT_EQ(m[2]["tool_calls"][0]["function"]["arguments"], "{\"x\":1}");
    EXPECT_EQ(m[2]["tool_calls"][0]["type"], "function");
    // OpenAI needs ids: the call gets one, the tool message answers it by id (paired by name).
    EXPECT_EQ(m[2]["tool_calls"][0]["id"], "call_1_0");
    EXPECT_EQ(m[3], (json{{"role", "tool"}, {"content", "42"}, {"tool_call_id", "call_1_0"}}));
}

TEST(openai_wire, generate_body) {
    generation_request r;
    r.kind = request_kind::generate;
    r.model = "m";
    r.prompt = "Once";
    r.options = json{{"num_predict", -1}};
    r.extra = json{{"system", "S"}, {"suffix", "end"}};
    auto body = json::parse(request_body(r, "m"));
    EXPECT_EQ(body["prompt"], "S\n\nOnce");
    EXPECT_EQ(body["suffix"], "end");
    EXPECT_EQ(body["max_tokens"], 4096);  // -1 = no limit: the cap (req.max_tokens) instead
    EXPECT_FALSE(body.contains("messages"));
}

TEST(openai_wire, parses_chunks) {
    auto c = parse_chunk(
        R"({"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().delta, "Hi");
    EXPECT_EQ(c.value().finish_reason, "");
    EXPECT_FALSE(c.value().has_usage);

    c = parse_chunk(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().finish_reason, "length");

    c = parse_chunk(R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c.value().has_usage);
    EXPECT_EQ(c.value().prompt_tokens, 9);
    EXPECT_EQ(c.value().completion_tokens, 2);

    c = parse_chunk(
        R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a"}}]},"finish_reason":null}]})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().delta, "");
    EXPECT_EQ(c.value().tool_calls, json::parse(R"([{"index":0,"function":{"arguments":"{\"a"}}])"));

    c = parse_chunk(R"({"object":"text_completion","choices":[{"text":" there","index":0,"finish_reason":null}]})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().delta, " there");

    c = parse_chunk(R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c.value().has_error);
    EXPECT_EQ(c.value().error, "boom");

    EXPECT_FALSE(parse_chunk("not json"));
    EXPECT_FALSE(parse_chunk("[1]"));
}

// n > 1: each choice of an event read with its index (one per event as OpenAI and vLLM send;
// more go to `others`); the body asks for n on chat only.
TEST(openai_wire, choices_are_read_with_their_index_and_n_is_asked_for) {
    auto c = parse_chunk(R"({"choices":[{"index":2,"delta":{"content":"B"},"finish_reason":null}]})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().index, 2);
    EXPECT_EQ(c.value().delta, "B");
    EXPECT_TRUE(c.value().others.empty());
    c = parse_chunk(
        R"({"choices":[{"index":0,"delta":{"content":"A"}},{"index":1,"delta":{},"finish_reason":"stop"}]})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().index, 0);
    ASSERT_EQ(c.value().others.size(), 1u);
    EXPECT_EQ(c.value().others[0].index, 1);
    EXPECT_EQ(c.value().others[0].finish_reason, "stop");
    c = parse_chunk(R"({"choices":[{"index":-1,"delta":{"content":"?"}}]})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().index, -1);

    generation_request req;
    req.kind = request_kind::chat;
    req.messages = json::array({json{{"role", "user"}, {"content", "x"}}});
    EXPECT_FALSE(json::parse(request_body(req, "m")).contains("n"));
    req.extra["n"] = 4;
    EXPECT_EQ(json::parse(request_body(req, "m"))["n"], 4);
    req.kind = request_kind::generate;
    EXPECT_FALSE(json::parse(request_body(req, "m")).contains("n"));
}

TEST(openai_wire, errors_and_models) {
    EXPECT_EQ(error_text(R"({"error":{"message":"nope","type":"t","code":"model_not_found"}})"), "nope");
    EXPECT_EQ(error_code(R"({"error":{"message":"nope","type":"t","code":"model_not_found"}})"), "model_not_found");
    EXPECT_EQ(error_code(R"({"error":{"message":"nope","type":"t","code":null}})"), "t");
    EXPECT_EQ(error_text(R"({"error":"plain"})"), "plain");
    EXPECT_EQ(error_text("Bad Gateway\n"), "Bad Gateway");
    auto ids = model_ids(R"({"object":"list","data":[{"id":"a","object":"model"},{"id":"b/c"}]})");
    ASSERT_TRUE(ids);
    EXPECT_EQ(*ids, (std::vector<std::string>{"a", "b/c"}));
    EXPECT_FALSE(model_ids(R"({"models":[]})"));
}

}  // namespace
}  // namespace llmp::providers::openai

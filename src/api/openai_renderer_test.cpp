#include "api/openai_renderer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace llmp::api {
namespace {

using json = nlohmann::json;

/// The JSON payloads of the data: events in `sse` (the SDKs' view), failing on anything else.
std::vector<std::string> data_events(const std::string& sse) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < sse.size()) {
        auto end = sse.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated event in " << sse;
        if (end == std::string::npos) {
            break;
        }
        auto ev = sse.substr(pos, end - pos);
        EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
        EXPECT_EQ(ev.find('\n'), std::string::npos) << "one line per event: " << ev;
        out.push_back(ev.substr(6));
        pos = end + 2;
    }
    return out;
}

request_message started_request() {
    request_message m;
    m.request_id = "abc";
    m.received_at_ms = 1741944413123;
    m.model = "mock";
    return m;
}

final_message finished(std::string reason = "stop") {
    final_message f;
    f.done_reason = std::move(reason);
    f.prompt_tokens = 9;
    f.completion_tokens = 2;
    return f;
}

TEST(openai_renderer, chat_stream_is_what_the_sdk_parses) {
    auto r = make_openai_renderer({request_kind::chat, true, true, "mock"});
    EXPECT_TRUE(r->streaming());
    EXPECT_EQ(r->content_type(), "text/event-stream");
    std::string out;
    r->start(out, started_request());
    r->token(out, "Hi", 1);
    r->token(out, " \"there\"\n", 2);
    r->done(out, finished("length"), {});
    auto ev = data_events(out);
    ASSERT_EQ(ev.size(), 6u) << out;
    auto first = json::parse(ev[0]);
    EXPECT_EQ(first["id"], "chatcmpl-abc");
    EXPECT_EQ(first["object"], "chat.completion.chunk");
    EXPECT_EQ(first["created"], 1741944413);
    EXPECT_EQ(first["model"], "mock");
    EXPECT_EQ(first["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
    EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
    EXPECT_TRUE(first["choices"][0]["logprobs"].is_null());
    EXPECT_TRUE(first.contains("usage") && first["usage"].is_null());
    EXPECT_EQ(json::parse(ev[1])["choices"][0]["delta"]["content"], "Hi");
    EXPECT_EQ(json::parse(ev[2])["choices"][0]["delta"]["content"], " \"there\"\n");
    auto last = json::parse(ev[3]);
    EXPECT_EQ(last["choices"][0]["delta"], json::object());
    EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
    auto usage = json::parse(ev[4]);
    EXPECT_EQ(usage["choices"], json::array());
    EXPECT_EQ(usage["usage"], json({{"prompt_tokens", 9}, {"completion_tokens", 2}, {"total_tokens", 11}}));
    EXPECT_EQ(usage["id"], "chatcmpl-abc");
    EXPECT_EQ(ev[5], "[DONE]");
}

TEST(openai_renderer, without_include_usage_there_is_no_usage_key_or_chunk) {
    auto r = make_openai_renderer({request_kind::chat, true, false, "mock"});
    std::string out;
    r->start(out, started_request());
    r->done(out, finished(), {});
    auto ev = data_events(out);
    ASSERT_EQ(ev.size(), 3u) << out;
    EXPECT_FALSE(json::parse(ev[0]).contains("usage"));
    EXPECT_EQ(json::parse(ev[1])["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(ev[2], "[DONE]");
}

TEST(openai_renderer, completions_stream_text_choices) {
    auto r = make_openai_renderer({request_kind::generate, true, false, "mock:latest"});
    std::string out;
    r->start(out, started_request());
    r->token(out, "Once", 1);
    r->done(out, finished(), {});
    auto ev = data_events(out);
    ASSERT_EQ(ev.size(), 3u) << out;  // no role chunk for completions
    auto c = json::parse(ev[0]);
    EXPECT_EQ(c["id"], "cmpl-abc");
    EXPECT_EQ(c["object"], "text_completion");
    EXPECT_EQ(c["model"], "mock:latest");
    EXPECT_EQ(c["choices"][0]["text"], "Once");
    EXPECT_EQ(c["choices"][0]["index"], 0);
    EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
    EXPECT_EQ(json::parse(ev[1])["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(ev[2], "[DONE]");
}

TEST(openai_renderer, an_error_after_the_start_is_an_error_event_and_no_done) {
    auto r = make_openai_renderer({request_kind::chat, true, true, "mock"});
    std::string out;
    r->start(out, started_request());
    r->keepalive(out);
    r->error(out, error_message{"worker_lost", "the worker went away", true});
    EXPECT_NE(out.find("\n\n: keepalive\n\ndata: {\"error\""), std::string::npos) << out;
    EXPECT_EQ(out.find("[DONE]"), std::string::npos);
    auto tail = out.substr(out.rfind("data: ") + 6);
    auto e = json::parse(tail.substr(0, tail.size() - 2));
    EXPECT_EQ(e["error"]["message"], "the worker went away");
    EXPECT_EQ(e["error"]["type"], "server_error");
    EXPECT_EQ(e["error"]["code"], "worker_lost");
    EXPECT_TRUE(e["error"].contains("param"));
}

TEST(openai_renderer, whole_replies_carry_usage) {
    auto r = make_openai_renderer({request_kind::chat, false, false, "mock"});
    relay_timings t;
    t.request_id = "r1";
    auto res = r->complete(finished(), "Hello there", t);
    EXPECT_EQ(res.result_int(), 200u);
    auto j = json::parse(res.body());
    EXPECT_EQ(j["id"], "chatcmpl-r1");
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["model"], "mock");
    EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello there");
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(j["usage"]["total_tokens"], 11);
    auto g = make_openai_renderer({request_kind::generate, false, false, "mock"})->complete(finished(), "x", t);
    auto gj = json::parse(g.body());
    EXPECT_EQ(gj["object"], "text_completion");
    EXPECT_EQ(gj["choices"][0]["text"], "x");
}

TEST(openai_renderer, errors_use_openai_statuses_and_shape) {
    auto check = [](const error& e, unsigned status, const char* type, const char* code) {
        auto res = openai_error_response(e);
        EXPECT_EQ(res.result_int(), status) << e.code;
        auto j = json::parse(res.body());
        EXPECT_EQ(j["error"]["message"], e.message);
        EXPECT_EQ(j["error"]["type"], type) << e.code;
        EXPECT_EQ(j["error"]["code"], code) << e.code;
        EXPECT_TRUE(j["error"]["param"].is_null());
        return res;
    };
    check({"invalid_json", "bad"}, 400, "invalid_request_error", "invalid_json");
    check({"model_not_found", "no such model"}, 404, "invalid_request_error", "model_not_found");
    check({"payload_too_large", "big"}, 413, "invalid_request_error", "payload_too_large");
    auto full = check({"queue_full", "full", true}, 503, "server_error", "queue_full");
    EXPECT_EQ(full[http::field::retry_after], "1");
    auto limited = check({"upstream_rate_limited", "slow down", true}, 429, "requests", "rate_limit_exceeded");
    EXPECT_EQ(limited[http::field::retry_after], "1");
    auto down = check({"broker_unavailable", "down", true}, 503, "server_error", "broker_unavailable");
    EXPECT_EQ(down[http::field::retry_after], "1");
    check({"shutting_down", "bye", true}, 503, "server_error", "shutting_down");
    auto internal = check({"provider_crashed", "boom"}, 500, "server_error", "provider_crashed");
    EXPECT_EQ(internal["x-should-retry"], "false");
}

final_message with_tool_calls() {
    auto f = finished("tool_calls");
    f.tool_calls = json::parse(R"([
        {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
        {"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}])");
    return f;
}

TEST(openai_renderer, streamed_tool_calls_assemble_as_the_sdk_does) {
    auto r = make_openai_renderer({request_kind::chat, true, false, "mock"});
    std::string out;
    r->start(out, started_request());
    r->done(out, with_tool_calls(), {});
    auto ev = data_events(out);
    ASSERT_EQ(ev.size(), 7u) << out;  // role, 2 x (head, arguments), finish, [DONE]
    // The SDK's accumulation (ChatCompletionStream): per index, id/type/name set, arguments joined.
    json calls = json::array();
    std::string finish;
    for (std::size_t i = 1; i + 1 < ev.size(); ++i) {
        auto c = json::parse(ev[i]);
        const auto& choice = c["choices"][0];
        if (!choice["finish_reason"].is_null()) {
            finish = choice["finish_reason"];
        }
        for (const auto& d : choice["delta"].value("tool_calls", json::array())) {
            auto index = d["index"].get<std::size_t>();
            while (calls.size() <= index) {
                calls.push_back(json{{"function", {{"name", ""}, {"arguments", ""}}}});
            }
            auto& call = calls[index];
            if (d.contains("id")) {
                call["id"] = d["id"];
            }
            if (d.contains("type")) {
                call["type"] = d["type"];
            }
            if (d["function"].contains("name")) {
                call["function"]["name"] = d["function"]["name"];
            }
            call["function"]["arguments"] =
                call["function"]["arguments"].get<std::string>() + d["function"].value("arguments", "");
        }
    }
    EXPECT_EQ(finish, "tool_calls");
    EXPECT_EQ(calls, with_tool_calls().tool_calls);
    EXPECT_EQ(ev.back(), "[DONE]");
}

TEST(openai_renderer, a_whole_reply_carries_the_calls_with_null_content) {
    auto r = make_openai_renderer({request_kind::chat, false, false, "mock"});
    relay_timings t;
    t.request_id = "abc";
    auto res = r->complete(with_tool_calls(), "", t);
    auto body = json::parse(res.body());
    const auto& choice = body["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "tool_calls");
    EXPECT_TRUE(choice["message"]["content"].is_null());
    EXPECT_EQ(choice["message"]["tool_calls"], with_tool_calls().tool_calls);
    EXPECT_EQ(openai_finish_reason("stop"), "stop");
    EXPECT_EQ(openai_finish_reason("load"), "stop");
}

final_message with_logprobs() {
    auto f = finished();
    f.logprobs = json::parse(R"([{"token":"Hi","logprob":-0.125,"bytes":[72,105],"top_logprobs":[]},
        {"token":"!","logprob":-0.25,"bytes":[33],"top_logprobs":[{"token":"!","logprob":-0.25,"bytes":[33]}]}])");
    return f;
}

TEST(openai_renderer, streamed_logprobs_come_in_one_chunk_before_the_finish) {
    auto r = make_openai_renderer({request_kind::chat, true, false, "mock"});
    std::string out;
    r->start(out, started_request());
    r->token(out, "Hi", 1);
    r->token(out, "!", 2);
    auto f = with_logprobs();
    r->done(out, f, {});
    auto ev = data_events(out);
    ASSERT_EQ(ev.size(), 6u) << out;  // role, 2 tokens, logprobs, finish, [DONE]
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(json::parse(ev[i])["choices"][0]["logprobs"].is_null()) << ev[i];
    }
    auto lp = json::parse(ev[3])["choices"][0];
    EXPECT_EQ(lp["index"], 0);
    EXPECT_EQ(lp["delta"], json::object());
    EXPECT_TRUE(lp["finish_reason"].is_null());
    EXPECT_EQ(lp["logprobs"], (json{{"content", f.logprobs}, {"refusal", nullptr}}));
    EXPECT_EQ(json::parse(ev[4])["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(ev[5], "[DONE]");
}

TEST(openai_renderer, a_whole_reply_carries_logprobs_and_null_without_them) {
    auto r = make_openai_renderer({request_kind::chat, false, false, "mock"});
    relay_timings t;
    t.request_id = "r1";
    auto f = with_logprobs();
    auto j = json::parse(r->complete(f, "Hi!", t).body());
    EXPECT_EQ(j["choices"][0]["logprobs"], (json{{"content", f.logprobs}, {"refusal", nullptr}}));
    j = json::parse(r->complete(finished(), "Hi!", t).body());
    EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
}

final_message two_choices() {
    auto f = finished("length");
    f.text = "Hi";
    f.completion_tokens = 5;
    choice_outcome one;
    one.index = 1;
    one.text = "Yo!";
    one.done_reason = "tool_calls";
    one.tool_calls = json::parse(R"([{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}])");
    f.choices = {one};
    return f;
}

// n > 1: each chunk's single choice names its index (a role chunk per choice, tokens as they
// come), every choice gets its finish chunk, then the usage: what the SDK's accumulator indexes.
TEST(openai_renderer, several_choices_stream_by_index_each_with_its_finish) {
    openai_reply_options o{request_kind::chat, true, true, "mock"};
    o.n = 2;
    auto r = make_openai_renderer(o);
    std::string out;
    r->start(out, started_request());
    r->token(out, "Hi", 1);
    r->choice_token(out, 1, "Yo", 2);
    r->choice_token(out, 1, "!", 3);
    r->choice_token(out, 2, "nobody's", 4);  // not a choice asked for: dropped
    r->done(out, two_choices(), {});
    auto ev = data_events(out);
    // 2 roles, 3 tokens, choice 1's two tool-call chunks, 2 finishes, usage, [DONE]
    ASSERT_EQ(ev.size(), 11u) << out;
    std::vector<int> indices;
    for (std::size_t i = 0; i + 2 < ev.size(); ++i) {
        auto c = json::parse(ev[i]);
        ASSERT_EQ(c["choices"].size(), 1u) << ev[i];
        indices.push_back(c["choices"][0]["index"].get<int>());
    }
    // At the end, choice by choice: its tool-call chunks, then its finish.
    EXPECT_EQ(indices, (std::vector<int>{0, 1, 0, 1, 1, 0, 1, 1, 1}));
    EXPECT_EQ(json::parse(ev[0])["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(json::parse(ev[1])["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(json::parse(ev[3])["choices"][0]["delta"]["content"], "Yo");
    EXPECT_EQ(json::parse(ev[5])["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(json::parse(ev[6])["choices"][0]["delta"]["tool_calls"][0]["id"], "call_1");
    EXPECT_TRUE(json::parse(ev[7])["choices"][0]["finish_reason"].is_null());
    EXPECT_EQ(json::parse(ev[8])["choices"][0]["finish_reason"], "tool_calls");
    auto usage = json::parse(ev[9]);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"]["completion_tokens"], 5);
    EXPECT_EQ(ev[10], "[DONE]");
}

TEST(openai_renderer, a_whole_reply_holds_every_choice_in_index_order) {
    openai_reply_options o{request_kind::chat, false, false, "mock"};
    o.n = 3;  // choice 2 never reported: an empty "stop"
    auto r = make_openai_renderer(o);
    relay_timings t;
    t.request_id = "r1";
    auto j = json::parse(r->complete(two_choices(), "Hi", t).body());
    ASSERT_EQ(j["choices"].size(), 3u) << j;
    EXPECT_EQ(j["choices"][0]["index"], 0);
    EXPECT_EQ(j["choices"][0]["message"]["content"], "Hi");
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["choices"][1]["index"], 1);
    EXPECT_EQ(j["choices"][1]["message"]["content"], "Yo!");
    EXPECT_EQ(j["choices"][1]["message"]["tool_calls"][0]["id"], "call_1");
    EXPECT_EQ(j["choices"][1]["finish_reason"], "tool_calls");
    EXPECT_EQ(j["choices"][2]["message"]["content"], "");
    EXPECT_EQ(j["choices"][2]["finish_reason"], "stop");
    EXPECT_EQ(j["usage"]["completion_tokens"], 5);
}

}  // namespace
}  // namespace llmp::api

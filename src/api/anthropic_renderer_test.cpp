#include "api/anthropic_renderer.hpp"

#include "common/errc.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace llmp::api {
namespace {

using json = nlohmann::json;

struct sse_event {
    std::string name;
    json data;
};

/// The events of `sse` as the SDK reads them, failing on anything but `event:` + `data:` pairs
/// whose data is JSON with the event's name as its "type".
std::vector<sse_event> events(const std::string& sse) {
    std::vector<sse_event> out;
    std::size_t pos = 0;
    while (pos < sse.size()) {
        auto end = sse.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated event in " << sse;
        if (end == std::string::npos) {
            break;
        }
        auto ev = sse.substr(pos, end - pos);
        pos = end + 2;
        auto nl = ev.find('\n');
        EXPECT_EQ(ev.rfind("event: ", 0), 0u) << ev;
        EXPECT_NE(nl, std::string::npos) << ev;
        EXPECT_EQ(ev.compare(nl + 1, 6, "data: "), 0) << ev;
        EXPECT_EQ(ev.find('\n', nl + 1), std::string::npos) << "one data line per event: " << ev;
        sse_event e{ev.substr(7, nl - 7), json::parse(ev.substr(nl + 7), nullptr, false)};
        EXPECT_EQ(e.data["type"], e.name) << ev;
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<std::string> names(const std::vector<sse_event>& evs) {
    std::vector<std::string> out;
    for (const auto& e : evs) {
        out.push_back(e.name);
    }
    return out;
}

request_message started_request() {
    request_message m;
    m.request_id = "abc";
    m.model = "mock:latest";
    return m;
}

final_message finished(std::string reason = "stop") {
    final_message f;
    f.done_reason = std::move(reason);
    f.prompt_tokens = 9;
    f.completion_tokens = 2;
    return f;
}

final_message with_a_call() {
    auto f = finished("tool_calls");
    f.tool_calls = json::parse(R"([{"id":"call_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"days\":42}"}}])");
    return f;
}

TEST(anthropic_renderer, a_text_stream_is_the_sequence_of_events_anthropic_sends) {
    auto r = make_anthropic_renderer({true, "mock"});
    EXPECT_TRUE(r->streaming());
    EXPECT_EQ(r->content_type(), "text/event-stream");
    std::string out;
    r->start(out, started_request());
    r->token(out, "Hi", 1);
    r->token(out, " \"there\"\n", 2);
    r->done(out, finished(), {});
    auto ev = events(out);
    EXPECT_EQ(names(ev),
              (std::vector<std::string>{"message_start", "ping", "content_block_start", "content_block_delta",
                                        "content_block_delta", "content_block_stop", "message_delta", "message_stop"}));
    ASSERT_EQ(ev.size(), 8u) << out;
    EXPECT_EQ(ev[0].data["message"], json::parse(R"({"id":"msg_abc","type":"message","role":"assistant","model":"mock",
        "content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}})"));
    EXPECT_EQ(ev[2].data,
              json::parse(R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    EXPECT_EQ(ev[3].data,
              json::parse(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})"));
    EXPECT_EQ(ev[4].data["delta"]["text"], " \"there\"\n");
    EXPECT_EQ(ev[5].data, json::parse(R"({"type":"content_block_stop","index":0})"));
    EXPECT_EQ(ev[6].data,
              json::parse(R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},
        "usage":{"input_tokens":9,"output_tokens":2}})"));
}

TEST(anthropic_renderer, tool_calls_stream_as_tool_use_blocks_with_their_input_as_json_deltas) {
    auto r = make_anthropic_renderer({true, "mock"});
    std::string out;
    r->start(out, started_request());
    r->token(out, "Looking.", 1);
    r->done(out, with_a_call(), {});
    auto ev = events(out);
    EXPECT_EQ(names(ev),
              (std::vector<std::string>{"message_start", "ping", "content_block_start", "content_block_delta",
                                        "content_block_stop", "content_block_start", "content_block_delta",
                                        "content_block_stop", "message_delta", "message_stop"}));
    ASSERT_EQ(ev.size(), 10u) << out;
    EXPECT_EQ(ev[5].data, json::parse(R"({"type":"content_block_start","index":1,
        "content_block":{"type":"tool_use","id":"call_1","name":"get_weather","input":{}}})"));
    EXPECT_EQ(ev[6].data["index"], 1);
    EXPECT_EQ(ev[6].data["delta"]["type"], "input_json_delta");
    EXPECT_EQ(json::parse(ev[6].data["delta"]["partial_json"].get<std::string>()),
              json::parse(R"({"city":"Paris","days":42})"));
    EXPECT_EQ(ev[7].data["index"], 1);
    EXPECT_EQ(ev[8].data["delta"]["stop_reason"], "tool_use");
}

TEST(anthropic_renderer, a_call_without_text_is_block_zero_and_an_empty_answer_one_empty_text_block) {
    auto r = make_anthropic_renderer({true, "mock"});
    std::string out;
    r->start(out, started_request());
    r->done(out, with_a_call(), {});
    auto ev = events(out);
    ASSERT_EQ(ev.size(), 7u) << out;
    EXPECT_EQ(ev[2].data["content_block"]["type"], "tool_use");
    EXPECT_EQ(ev[2].data["index"], 0);

    auto empty = make_anthropic_renderer({true, "mock"});
    out.clear();
    empty->start(out, started_request());
    empty->done(out, finished(), {});
    ev = events(out);
    EXPECT_EQ(names(ev), (std::vector<std::string>{"message_start", "ping", "content_block_start", "content_block_stop",
                                                   "message_delta", "message_stop"}));
}

TEST(anthropic_renderer, stop_reasons_are_anthropics) {
    EXPECT_EQ(anthropic_stop_reason("stop"), "end_turn");
    EXPECT_EQ(anthropic_stop_reason("length"), "max_tokens");
    EXPECT_EQ(anthropic_stop_reason("tool_calls"), "tool_use");
    EXPECT_EQ(anthropic_stop_reason("stop_sequence"), "stop_sequence");
    EXPECT_EQ(anthropic_stop_reason("anything else"), "end_turn");
}

TEST(anthropic_renderer, an_error_mid_stream_is_an_error_event_with_anthropics_error_object) {
    auto r = make_anthropic_renderer({true, "mock"});
    std::string out;
    r->error(out, error_message{"worker_lost", "the worker died", true});
    r->error(out, error_message{"provider_error", "boom", false});
    auto ev = events(out);
    ASSERT_EQ(ev.size(), 2u) << out;
    EXPECT_EQ(ev[0].name, "error");
    EXPECT_EQ(ev[0].data,
              json::parse(R"({"type":"error","error":{"type":"overloaded_error","message":"the worker died"}})"));
    EXPECT_EQ(ev[1].data["error"]["type"], "api_error");
}

TEST(anthropic_renderer, keepalives_are_ping_events) {
    auto r = make_anthropic_renderer({true, "mock"});
    std::string out;
    r->keepalive(out);
    EXPECT_EQ(out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

TEST(anthropic_renderer, a_whole_reply_is_one_message_object) {
    auto r = make_anthropic_renderer({false, "mock"});
    EXPECT_FALSE(r->streaming());
    relay_timings t;
    t.request_id = "abc";
    auto res = r->complete(finished("length"), "Hi there", t);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(json::parse(res.body()),
              json::parse(R"({"id":"msg_abc","type":"message","role":"assistant","model":"mock",
        "content":[{"type":"text","text":"Hi there"}],"stop_reason":"max_tokens","stop_sequence":null,
        "usage":{"input_tokens":9,"output_tokens":2}})"));
}

TEST(anthropic_renderer, a_whole_reply_with_a_call_has_a_tool_use_block_with_its_input_object) {
    auto r = make_anthropic_renderer({false, "mock"});
    auto body = json::parse(r->complete(with_a_call(), "", {}).body());
    EXPECT_EQ(body["content"], json::parse(R"([{"type":"tool_use","id":"call_1","name":"get_weather",
        "input":{"city":"Paris","days":42}}])"));
    EXPECT_EQ(body["stop_reason"], "tool_use");
    // Arguments that are not a JSON object become {} (the SDKs' types say input is an object).
    auto odd = with_a_call();
    odd.tool_calls[0]["function"]["arguments"] = "[1,";
    body = json::parse(r->complete(odd, "text first", {}).body());
    ASSERT_EQ(body["content"].size(), 2u);
    EXPECT_EQ(body["content"][0], json({{"type", "text"}, {"text", "text first"}}));
    EXPECT_EQ(body["content"][1]["input"], json::object());
}

TEST(anthropic_renderer, error_replies_have_anthropics_shape_type_and_the_tables_status) {
    struct row {
        errc code;
        const char* type;
    };
    for (auto [code, type] :
         {row{errc::invalid_field, "invalid_request_error"}, row{errc::invalid_json, "invalid_request_error"},
          row{errc::invalid_api_key, "authentication_error"}, row{errc::model_not_allowed, "permission_error"},
          row{errc::model_not_found, "not_found_error"}, row{errc::payload_too_large, "request_too_large"},
          row{errc::rate_limit_exceeded, "rate_limit_error"}, row{errc::queue_full, "overloaded_error"},
          row{errc::timeout, "timeout_error"}, row{errc::internal_error, "api_error"}}) {
        auto res = anthropic_error_response(make_error(code, "why"));
        EXPECT_EQ(static_cast<int>(res.result()), info(code).http_status) << wire_name(code);
        EXPECT_EQ(json::parse(res.body()), json({{"type", "error"}, {"error", {{"type", type}, {"message", "why"}}}}))
            << wire_name(code);
    }
    auto busy = anthropic_error_response(make_error(errc::queue_full, "full"));
    EXPECT_EQ(busy["retry-after"], "1");
    EXPECT_EQ(busy.count("x-should-retry"), 0u) << "the SDK retries it";
    EXPECT_EQ(anthropic_error_response(make_error(errc::internal_error, "bug"))["x-should-retry"], "false");
}

TEST(anthropic_renderer, every_code_of_the_table_keeps_its_status_and_retry_after) {
    for (const auto& row : errc_table()) {
        auto res = anthropic_error_response({std::string{row.name}, "m", false});
        EXPECT_EQ(static_cast<int>(res.result()), row.http_status) << row.name;
        if (row.retry_after_s > 0) {
            EXPECT_EQ(res[http::field::retry_after], std::to_string(row.retry_after_s)) << row.name;
        }
        EXPECT_EQ(json::parse(res.body())["error"]["type"], anthropic_error_type(row.http_status)) << row.name;
        auto r = make_anthropic_renderer({true, "mock"});
        std::string out;
        r->error(out, error_message{std::string{row.name}, "m", false});
        EXPECT_EQ(events(out).at(0).data["error"]["type"], anthropic_error_type(row.http_status)) << row.name;
    }
}

}  // namespace
}  // namespace llmp::api

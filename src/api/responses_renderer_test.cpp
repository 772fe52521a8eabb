#include "api/responses_renderer.hpp"

#include "api/responses_objects.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace llmp::api {
namespace {

using json = nlohmann::json;

/// The events of `sse`: each `event: <type>` then one data line, the type repeated in the data.
std::vector<json> events_of(const std::string& sse) {
    std::vector<json> out;
    std::size_t pos = 0;
    while (pos < sse.size()) {
        auto end = sse.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated event in " << sse;
        if (end == std::string::npos) {
            break;
        }
        auto ev = sse.substr(pos, end - pos);
        pos = end + 2;
        if (ev.starts_with(":")) {
            continue;
        }
        auto nl = ev.find('\n');
        EXPECT_EQ(ev.rfind("event: ", 0), 0u) << ev;
        EXPECT_EQ(ev.compare(nl + 1, 6, "data: "), 0) << ev;
        auto data = json::parse(ev.substr(nl + 7));
        EXPECT_EQ(ev.substr(7, nl - 7), data["type"].get<std::string>());
        out.push_back(std::move(data));
    }
    return out;
}

std::vector<std::string> types_of(const std::vector<json>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
        out.push_back(e["type"]);
    }
    return out;
}

request_message started() {
    request_message m;
    m.request_id = "12ab-34cd";
    m.received_at_ms = 1741944413123;
    m.model = "mock:latest";
    return m;
}

final_message final_of(std::string reason = "stop") {
    final_message f;
    f.done_reason = std::move(reason);
    f.prompt_tokens = 4;
    f.completion_tokens = 2;
    return f;
}

std::unique_ptr<stream_renderer> renderer(bool stream, std::vector<std::string>* finished = nullptr) {
    responses_reply_options o;
    o.stream = stream;
    o.model = "mock";
    o.echo = {{"instructions", "be brief"}, {"store", true}};
    if (finished != nullptr) {
        o.on_finished = [finished](const std::string& id) { finished->push_back(id); };
    }
    return make_responses_renderer(std::move(o));
}

TEST(responses_renderer, a_text_stream_emits_the_semantic_events_in_order_with_sequence_numbers) {
    std::vector<std::string> finished;
    auto r = renderer(true, &finished);
    std::string out;
    r->start(out, started());
    r->token(out, "Hel", 1);
    r->token(out, "lo", 2);
    r->done(out, final_of(), relay_timings{});
    auto events = events_of(out);
    EXPECT_EQ(types_of(events), (std::vector<std::string>{"response.created", "response.in_progress",
                                                          "response.output_item.added", "response.content_part.added",
                                                          "response.output_text.delta", "response.output_text.delta",
                                                          "response.output_text.done", "response.content_part.done",
                                                          "response.output_item.done", "response.completed"}));
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i]["sequence_number"], i);
    }
    EXPECT_EQ(events[0]["response"]["id"], "resp_12ab-34cd");
    EXPECT_EQ(events[0]["response"]["status"], "in_progress");
    EXPECT_EQ(events[0]["response"]["created_at"], 1741944413);
    EXPECT_EQ(events[4]["delta"], "Hel");
    EXPECT_EQ(events[4]["item_id"], "msg_12ab34cd");
    EXPECT_EQ(events[6]["text"], "Hello");
    const auto& done = events.back()["response"];
    EXPECT_EQ(done["status"], "completed");
    EXPECT_EQ(done["output"][0]["content"][0]["text"], "Hello");
    EXPECT_EQ(done["usage"]["total_tokens"], 6);
    EXPECT_EQ(done["instructions"], "be brief");  // the echo
    EXPECT_EQ(finished, std::vector<std::string>{"12ab-34cd"});
}

TEST(responses_renderer, tool_calls_stream_as_function_call_items_with_argument_events) {
    auto r = renderer(true);
    std::string out;
    r->start(out, started());
    auto f = final_of("tool_calls");
    f.tool_calls = json::parse(
        R"([{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}])");
    r->done(out, f, relay_timings{});
    auto events = events_of(out);
    EXPECT_EQ(types_of(events), (std::vector<std::string>{
                                    "response.created", "response.in_progress", "response.output_item.added",
                                    "response.function_call_arguments.delta", "response.function_call_arguments.done",
                                    "response.output_item.done", "response.completed"}));
    EXPECT_EQ(events[2]["item"]["type"], "function_call");
    EXPECT_EQ(events[2]["item"]["arguments"], "");
    EXPECT_EQ(events[3]["delta"], "{\"city\":\"Oslo\"}");
    EXPECT_EQ(events[4]["name"], "get_weather");
    const auto& item = events.back()["response"]["output"][0];
    EXPECT_EQ(item["call_id"], "call_a");
    EXPECT_EQ(item["id"], "fc_12ab34cd_0");
    EXPECT_EQ(item["arguments"], "{\"city\":\"Oslo\"}");
}

TEST(responses_renderer, a_token_limit_ends_with_response_incomplete) {
    auto r = renderer(true);
    std::string out;
    r->start(out, started());
    r->token(out, "a", 1);
    r->done(out, final_of("length"), relay_timings{});
    auto events = events_of(out);
    EXPECT_EQ(events.back()["type"], "response.incomplete");
    EXPECT_EQ(events.back()["response"]["incomplete_details"]["reason"], "max_output_tokens");
}

TEST(responses_renderer, a_failure_after_the_start_is_an_error_event_then_response_failed) {
    auto r = renderer(true);
    std::string out;
    r->start(out, started());
    r->token(out, "a", 1);
    r->error(out, error_message{"worker_lost", "the worker died", true});
    auto events = events_of(out);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events[events.size() - 2]["type"], "error");
    EXPECT_EQ(events[events.size() - 2]["code"], "worker_lost");
    EXPECT_EQ(events.back()["type"], "response.failed");
    EXPECT_EQ(events.back()["response"]["status"], "failed");
    EXPECT_EQ(events.back()["response"]["error"]["code"], "worker_lost");
}

TEST(responses_renderer, a_whole_reply_is_one_response_object) {
    std::vector<std::string> finished;
    auto r = renderer(false, &finished);
    relay_timings t;
    t.request_id = "12ab-34cd";
    auto res = r->complete(final_of(), "Hello", t);
    EXPECT_EQ(res.result_int(), 200u);
    auto body = json::parse(res.body());
    EXPECT_EQ(body["object"], "response");
    EXPECT_EQ(body["id"], "resp_12ab-34cd");
    EXPECT_EQ(body["model"], "mock");
    EXPECT_EQ(body["status"], "completed");
    EXPECT_EQ(body["output"][0]["type"], "message");
    EXPECT_EQ(body["output"][0]["role"], "assistant");
    EXPECT_EQ(body["output"][0]["content"][0]["type"], "output_text");
    EXPECT_EQ(body["usage"]["input_tokens"], 4);
    EXPECT_EQ(body["usage"]["output_tokens"], 2);
    EXPECT_EQ(finished, std::vector<std::string>{"12ab-34cd"});
}

TEST(responses_renderer, errors_are_openai_error_objects) {
    auto r = renderer(false);
    auto res = r->failure({"model_not_found", "no such model", false});
    EXPECT_EQ(res.result_int(), 404u);
    auto body = json::parse(res.body());
    EXPECT_EQ(body["error"]["code"], "model_not_found");
    EXPECT_EQ(body["error"]["type"], "invalid_request_error");
}

TEST(responses_objects, a_stored_outcome_continues_as_an_assistant_message_with_its_calls) {
    response_outcome o;
    o.status = "completed";
    o.text = "";
    o.tool_calls =
        json::parse(R"([{"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}])");
    auto m = assistant_message(o);
    EXPECT_EQ(m["role"], "assistant");
    EXPECT_EQ(m["tool_calls"][0]["id"], "call_a");
    EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], json::parse(R"({"x":1})"));
    // Only calls: no empty message item in the output.
    auto items = output_items("r-1", o);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0]["type"], "function_call");
}

}  // namespace
}  // namespace llmp::api

#include "api/ollama_renderer.hpp"

#include "api/native_renderer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace llmp::api {
namespace {

using json = nlohmann::json;

std::vector<json> lines(const std::string& ndjson) {
    std::vector<json> out;
    std::size_t pos = 0;
    while (pos < ndjson.size()) {
        auto end = ndjson.find('\n', pos);
        EXPECT_NE(end, std::string::npos) << "unterminated line in " << ndjson;
        if (end == std::string::npos) {
            break;
        }
        out.push_back(json::parse(ndjson.substr(pos, end - pos)));
        pos = end + 1;
    }
    return out;
}

final_message finished() {
    final_message f;
    f.prompt_tokens = 4;
    f.completion_tokens = 2;
    f.ttft_ms = 10;
    f.duration_ms = 30;
    return f;
}

TEST(ollama_renderer, chat_stream_lines_are_ollamas) {
    auto r = make_ollama_renderer(request_kind::chat, true, "mock");
    EXPECT_EQ(r->content_type(), "application/x-ndjson");
    std::string out;
    request_message m;
    r->start(out, m);
    EXPECT_TRUE(out.empty());
    r->token(out, "Hi", 1);
    r->keepalive(out);  // none in NDJSON
    r->token(out, " \"you\"", 2);
    relay_timings t;
    t.total_ms = 50;
    r->done(out, finished(), t);
    auto l = lines(out);
    ASSERT_EQ(l.size(), 3u) << out;
    EXPECT_EQ(l[0]["model"], "mock");
    EXPECT_TRUE(l[0]["created_at"].is_string());
    EXPECT_EQ(l[0]["message"], json({{"role", "assistant"}, {"content", "Hi"}}));
    EXPECT_EQ(l[0]["done"], false);
    EXPECT_EQ(l[1]["message"]["content"], " \"you\"");
    const auto& f = l[2];
    EXPECT_EQ(f["done"], true);
    EXPECT_EQ(f["done_reason"], "stop");
    EXPECT_EQ(f["message"]["content"], "");
    EXPECT_EQ(f["total_duration"], 50'000'000);
    EXPECT_EQ(f["load_duration"], 0);
    EXPECT_EQ(f["prompt_eval_count"], 4);
    EXPECT_EQ(f["prompt_eval_duration"], 10'000'000);
    EXPECT_EQ(f["eval_count"], 2);
    EXPECT_EQ(f["eval_duration"], 20'000'000);
}

TEST(ollama_renderer, generate_lines_carry_response_and_upstream_figures_win) {
    auto r = make_ollama_renderer(request_kind::generate, true, "mock:latest");
    std::string out;
    r->start(out, request_message{});
    r->token(out, "Once", 1);
    auto f = finished();
    f.done_reason = "length";
    f.provider_metrics = {{"total_duration", 412337500}, {"load_duration", 21874100}, {"eval_duration", 61203000}};
    r->done(out, f, {});
    auto l = lines(out);
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[0]["response"], "Once");
    EXPECT_EQ(l[1]["response"], "");
    EXPECT_EQ(l[1]["done_reason"], "length");
    EXPECT_EQ(l[1]["total_duration"], 412337500);
    EXPECT_EQ(l[1]["load_duration"], 21874100);
    EXPECT_EQ(l[1]["eval_duration"], 61203000);
    EXPECT_EQ(l[1]["eval_count"], 2);  // not in provider_metrics: from the counts
}

TEST(ollama_renderer, an_error_mid_stream_is_one_error_line) {
    auto r = make_ollama_renderer(request_kind::chat, true, "mock");
    std::string out;
    r->start(out, request_message{});
    r->error(out, error_message{"timeout", "too slow"});
    EXPECT_EQ(out, "{\"error\":\"too slow\"}\n");
}

TEST(ollama_renderer, whole_reply_and_errors) {
    auto r = make_ollama_renderer(request_kind::chat, false, "mock");
    auto res = r->complete(finished(), "Hello", {});
    EXPECT_EQ(res[http::field::content_type], "application/json; charset=utf-8");
    auto j = json::parse(res.body());
    EXPECT_EQ(j["message"]["content"], "Hello");
    EXPECT_EQ(j["done"], true);
    EXPECT_EQ(j["eval_count"], 2);

    auto nf = r->failure({"model_not_found", "model 'x' is not served"});
    EXPECT_EQ(nf.result_int(), 404u);
    EXPECT_EQ(json::parse(nf.body()), json({{"error", "model \"mock\" not found, try pulling it first"}}));
    auto bad = ollama_error_response({"invalid_json", "request body is not valid JSON"});
    EXPECT_EQ(bad.result_int(), 400u);
    EXPECT_EQ(json::parse(bad.body())["error"], "request body is not valid JSON");
    auto busy = ollama_error_response({"queue_full", "full", true});
    EXPECT_EQ(busy.result_int(), 503u);
    EXPECT_EQ(busy[http::field::retry_after], "1");
}

TEST(ollama_renderer, logprobs_ride_on_the_final_object_in_ollamas_shape) {
    auto f = finished();
    f.logprobs = json::parse(R"([{"token":"Hi","logprob":-0.125,"bytes":[72,105],"top_logprobs":[]},
        {"token":"!","logprob":-0.25,"bytes":[33],"top_logprobs":[{"token":"!","logprob":-0.25,"bytes":[33]}]}])");
    const auto expected = json::parse(R"([{"token":"Hi","logprob":-0.125,"bytes":[72,105]},
        {"token":"!","logprob":-0.25,"bytes":[33],"top_logprobs":[{"token":"!","logprob":-0.25,"bytes":[33]}]}])");
    auto streamed = make_ollama_renderer(request_kind::chat, true, "mock");
    std::string out;
    streamed->start(out, request_message{});
    streamed->token(out, "Hi", 1);
    streamed->done(out, f, {});
    auto l = lines(out);
    ASSERT_EQ(l.size(), 2u) << out;
    EXPECT_FALSE(l[0].contains("logprobs"));
    EXPECT_EQ(l[1]["logprobs"], expected);
    auto whole = json::parse(make_ollama_renderer(request_kind::chat, false, "mock")->complete(f, "Hi!", {}).body());
    EXPECT_EQ(whole["logprobs"], expected);
    whole = json::parse(make_ollama_renderer(request_kind::chat, false, "mock")->complete(finished(), "x", {}).body());
    EXPECT_FALSE(whole.contains("logprobs"));
}

TEST(ollama_renderer, timestamps_are_rfc3339_utc_with_trimmed_nanoseconds) {
    using namespace std::chrono;
    system_clock::time_point t{seconds{1741944413} + nanoseconds{565230000}};
    EXPECT_EQ(ollama_timestamp(t), "2025-03-14T09:26:53.56523Z");
    EXPECT_EQ(ollama_timestamp(system_clock::time_point{seconds{1741944413}}), "2025-03-14T09:26:53Z");
}

TEST(ollama_renderer, tool_calls_are_ollamas_objects_with_done_reason_stop) {
    auto f = finished();
    f.done_reason = "tool_calls";
    f.tool_calls = json::parse(
        R"([{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])");
    const auto ollama_calls =
        json::parse(R"([{"id":"call_a","function":{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}}])");
    auto r = make_ollama_renderer(request_kind::chat, true, "llama3.2");
    std::string out;
    r->start(out, request_message{});
    r->done(out, f, relay_timings{});
    auto l = lines(out);
    ASSERT_EQ(l.size(), 2u) << out;
    EXPECT_EQ(l[0]["done"], false);
    EXPECT_EQ(l[0]["message"]["content"], "");
    EXPECT_EQ(l[0]["message"]["tool_calls"], ollama_calls);
    EXPECT_EQ(l[1]["done"], true);
    EXPECT_EQ(l[1]["done_reason"], "stop");
    EXPECT_FALSE(l[1]["message"].contains("tool_calls"));

    auto whole = make_ollama_renderer(request_kind::chat, false, "llama3.2");
    auto body = json::parse(whole->complete(f, "", relay_timings{}).body());
    EXPECT_EQ(body["message"]["tool_calls"], ollama_calls);
    EXPECT_EQ(body["done_reason"], "stop");
}

// The native /api/chat is Ollama-shaped too: its done event and whole reply carry the calls so.
TEST(native_renderer, tool_calls_in_the_done_event_and_the_whole_reply) {
    auto f = finished();
    f.done_reason = "tool_calls";
    f.tool_calls =
        json::parse(R"([{"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}])");
    const auto ollama_calls = json::parse(R"([{"id":"call_a","function":{"index":0,"name":"f","arguments":{"x":1}}}])");
    auto r = make_native_renderer(request_kind::chat, true);
    std::string out;
    r->done(out, f, relay_timings{});
    auto data = out.find("data: ");
    ASSERT_NE(data, std::string::npos) << out;
    auto done = json::parse(out.substr(data + 6, out.find('\n', data) - data - 6));
    EXPECT_EQ(done["tool_calls"], ollama_calls);
    EXPECT_EQ(done["done_reason"], "tool_calls");

    auto whole = make_native_renderer(request_kind::chat, false);
    auto body = json::parse(whole->complete(f, "", relay_timings{}).body());
    EXPECT_EQ(body["message"]["tool_calls"], ollama_calls);
    EXPECT_FALSE(body.contains("tool_calls"));
}

// The native API's done event and whole reply carry the logprobs the final has (none: absent).
TEST(native_renderer, logprobs_come_on_the_done_event_and_the_whole_reply) {
    auto f = finished();
    const auto lp = json::parse(R"([{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}])");
    auto plain = make_native_renderer(request_kind::chat, false);
    EXPECT_FALSE(json::parse(plain->complete(f, "Hi", relay_timings{}).body()).contains("logprobs"));
    f.logprobs = lp;
    EXPECT_EQ(json::parse(plain->complete(f, "Hi", relay_timings{}).body())["logprobs"], lp);
    auto r = make_native_renderer(request_kind::chat, true);
    std::string out;
    r->done(out, f, relay_timings{});
    auto data = out.find("data: ");
    ASSERT_NE(data, std::string::npos) << out;
    EXPECT_EQ(json::parse(out.substr(data + 6, out.find('\n', data) - data - 6))["logprobs"], lp);
}

// A resumable stream's events all carry ids: the token's chunk seq, the end one past the last.
TEST(native_renderer, resumable_streams_number_every_event_by_chunk_seq) {
    auto r = make_native_renderer(request_kind::generate, true, true);
    std::string out;
    r->token(out, "a", 2);
    r->token(out, "b", 5);
    EXPECT_NE(out.find("id: 2\n"), std::string::npos) << out;
    EXPECT_NE(out.find("id: 5\n"), std::string::npos) << out;
    std::string end;
    r->done(end, finished(), relay_timings{});
    EXPECT_NE(end.find("event: done"), std::string::npos) << end;
    EXPECT_NE(end.find("id: 6\n"), std::string::npos) << end;

    auto failed = make_native_renderer(request_kind::chat, true, true);
    std::string err;
    failed->error(err, error_message{"timeout", "late"});
    EXPECT_NE(err.find("id: 1\n"), std::string::npos) << err;  // nothing came: one past seq 0

    auto plain = make_native_renderer(request_kind::chat, true);
    std::string tail;
    plain->token(tail, "a", 3);
    EXPECT_NE(tail.find("id: 3\n"), std::string::npos) << tail;
    tail.clear();
    plain->done(tail, finished(), relay_timings{});
    EXPECT_EQ(tail.find("id: "), std::string::npos) << tail;  // a plain stream's end has none
}

}  // namespace
}  // namespace llmp::api

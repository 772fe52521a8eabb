#include "providers/ollama/ollama_provider.hpp"

#include "providers/testing/fake_ollama.hpp"
#include "providers/testing/fake_logprobs.hpp"
#include "providers/embedding_exchange.hpp"
#include "providers/error_text.hpp"
#include "providers/mock/mock_text.hpp"
#include "providers/mock/mock_tool_calls.hpp"
#include "providers/ollama/ollama_wire.hpp"
#include "providers/testing/provider_test_harness.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>

namespace llmp::providers {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

using test::collect;
using test::outcome;
using test::run_state;
using test::test_timeout;
using test::unused_port;

generation_request chat_request(std::string model, std::string user_text, int num_predict = 8) {
    generation_request r;
    r.request_id = "req-1";
    r.kind = request_kind::chat;
    r.model = std::move(model);
    r.messages = json::array({json{{"role", "system"}, {"content", "You are terse."}},
                              json{{"role", "user"}, {"content", std::move(user_text)}}});
    r.options = json{{"temperature", 0}, {"num_predict", num_predict}};
    return r;
}

generation_request generate_request(std::string model, std::string prompt, int num_predict = 8) {
    generation_request r;
    r.request_id = "req-2";
    r.kind = request_kind::generate;
    r.model = std::move(model);
    r.prompt = std::move(prompt);
    r.options = json{{"num_predict", num_predict}};
    return r;
}

json weather_tool() {
    return json::parse(R"({"type":"function","function":{"name":"get_weather","description":"Weather in a city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},
        "required":["city"]}}})");
}

class ollama_provider_test : public test::io_fixture {
protected:
    std::unique_ptr<provider> make(std::string url, ollama_config cfg = {}) {
        cfg.url = std::move(url);
        return make_ollama_provider(cfg, ioc_.get_executor());
    }
};

TEST_F(ollama_provider_test, models_are_listed_normalized) {
    testing::fake_ollama_options fo;
    fo.models = {"llama3.2:latest", "qwen2.5:0.5b", "mymodel", "library/other"};
    testing::fake_ollama fake{fo};
    auto p = make(fake.url());
    EXPECT_EQ(p->name(), "ollama");
    auto init = run(p->init());
    ASSERT_TRUE(init) << init.error().message;
    auto m = run(p->models());
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m.value(),
              (std::vector<std::string>{"llama3.2:latest", "qwen2.5:0.5b", "mymodel:latest", "library/other:latest"}));
}

TEST_F(ollama_provider_test, init_fails_when_nothing_listens) {
    std::string url = "http://127.0.0.1:" + std::to_string(unused_port());
    auto p = make(url);
    auto r = run(p->init());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "upstream_unavailable");
    EXPECT_EQ(r.error().message, "cannot connect to Ollama at " + url + ": Connection refused");
    EXPECT_TRUE(r.error().retryable);
}

TEST_F(ollama_provider_test, bad_url_fails_init_and_generations) {
    auto p = make("https://example.com");
    auto r = run(p->init());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "bad_config");
    auto o = generate_all(*p, chat_request("fake", "hi"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "bad_config");
}

TEST_F(ollama_provider_test, streaming_chat) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("qwen2.5:0.5b", "Say hi", 8));
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.tokens, mock_tokens("Say hi", 8));
    EXPECT_EQ(o.text(), mock_text("Say hi", 8));

    json final = fake.last_final();
    EXPECT_EQ(o.done->done_reason, "stop");
    EXPECT_EQ(o.done->completion_tokens, 8);
    EXPECT_EQ(o.done->prompt_tokens, final["prompt_eval_count"].get<std::int64_t>());
    EXPECT_EQ(o.done->prompt_tokens, mock_prompt_tokens("You are terse.\nSay hi\n"));
    json expected_metrics = json::object();
    for (const char* k : {"total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
                          "eval_duration"}) {
        expected_metrics[k] = final[k];
    }
    EXPECT_EQ(o.done->provider_metrics, expected_metrics);

    json sent = fake.last_request_body();
    EXPECT_EQ(sent["model"], "qwen2.5:0.5b");
    EXPECT_EQ(sent["stream"], true);
    EXPECT_EQ(sent["options"]["num_predict"], 8);
    EXPECT_EQ(sent["messages"].size(), 2u);
}

// n > 1: Ollama answers one choice per request, so the provider runs n generations at once and
// merges them (providers/choice_fanout.hpp): choice i's tokens come as choice i's, the usage
// counts every choice's tokens and the prompt once, and no `n` reaches Ollama.
TEST_F(ollama_provider_test, several_choices_are_as_many_generations_merged) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto req = chat_request("qwen2.5:0.5b", "Say hi", 8);
    req.extra["n"] = 3;
    req.options["seed"] = 7;
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.text(), mock_text("Say hi", 8));
    ASSERT_EQ(o.choice_text.size(), 2u);
    EXPECT_EQ(o.choice_text[1], mock_text("Say hi", 8));
    EXPECT_EQ(o.choice_text[2], mock_text("Say hi", 8));
    EXPECT_EQ(o.done->completion_tokens, 24);
    EXPECT_EQ(o.done->prompt_tokens, mock_prompt_tokens("You are terse.\nSay hi\n"));
    ASSERT_EQ(o.done->choices.size(), 2u);
    EXPECT_EQ(o.done->choices[0].index, 1);
    EXPECT_EQ(o.done->choices[1].index, 2);
    EXPECT_EQ(o.done->choices[1].done_reason, "stop");
    json sent = fake.last_request_body();
    EXPECT_FALSE(sent.contains("n"));
    EXPECT_TRUE(sent["options"]["seed"] == 7 || sent["options"]["seed"] == 8 || sent["options"]["seed"] == 9)
        << sent["options"];
}

// One failed choice fails the request: the client asked for n.
TEST_F(ollama_provider_test, several_choices_end_with_the_first_error) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto req = chat_request("no-such-model", "Say hi", 8);
    req.extra["n"] = 2;
    auto o = generate_all(*p, req);
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "model_not_found");
    EXPECT_FALSE(o.done);
}

TEST_F(ollama_provider_test, tool_calls_are_collected_from_the_stream_and_from_a_whole_reply) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto req = chat_request("llama3.2", "Paris");
    req.extra["tools"] = json::array({weather_tool()});
    req.extra["tool_choice"] = json::parse(R"({"type":"function","function":{"name":"get_weather"}})");
    req.extra["parallel_tool_calls"] = false;
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.tokens.empty());
    ASSERT_EQ(o.done->tool_calls.size(), 1u);
    const auto& call = o.done->tool_calls[0];
    EXPECT_EQ(call["type"], "function");
    EXPECT_EQ(call["id"].get<std::string>().size(), 13u);  // Ollama's id, kept
    EXPECT_EQ(call["function"]["name"], "get_weather");
    EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()), (json{{"city", "Paris"}, {"days", 42}}));
    // Ollama has no tool_choice: a named function is sent as the only tool.
    auto body = fake.last_request_body();
    EXPECT_EQ(body["tools"], json::array({weather_tool()}));
    EXPECT_FALSE(body.contains("tool_choice"));
    EXPECT_FALSE(body.contains("parallel_tool_calls"));
    req.extra["response_format"] = json{{"type", "json_object"}};  // Ollama's terms are `format`
    EXPECT_FALSE(json::parse(ollama::request_body(req)).contains("response_format"));
    req.extra.erase("response_format");

    req.extra["tool_choice"] = "none";
    o = generate_all(*p, req);
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.done->tool_calls.empty());
    EXPECT_FALSE(fake.last_request_body().contains("tools"));
}

// Ollama (>= 0.12.11) answers logprobs: true with a top-level list per line; the provider
// gathers them in OpenAI's shape, bytes and top_logprobs always present.
TEST_F(ollama_provider_test, logprobs_are_asked_for_and_gathered_in_openais_shape) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto req = chat_request("llama3.2", "Say hi", 4);
    req.extra["logprobs"] = true;
    req.extra["top_logprobs"] = 2;
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    auto sent = fake.last_request_body();
    EXPECT_EQ(sent["logprobs"], true);
    EXPECT_EQ(sent["top_logprobs"], 2);
    ASSERT_EQ(o.done->logprobs.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(o.done->logprobs[i], testing::fake_logprob_entry(o.tokens[i], i, 2, false)) << i;
    }

    req.extra.erase("logprobs");
    req.extra.erase("top_logprobs");
    o = generate_all(*p, req);
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.done->logprobs.empty());
    EXPECT_FALSE(fake.last_request_body().contains("logprobs"));
}

TEST(ollama_wire, logprobs_become_openais_shape) {
    ollama::stream_parser parser;
    auto l = parser.parse(
        R"({"message":{"role":"assistant","content":"é"},"logprobs":[{"token":"é","logprob":-0.25}],"done":false})");
    ASSERT_TRUE(l);
    auto converted = ollama::logprobs_to_openai(json::parse(l.value().logprobs));
    EXPECT_EQ(converted, json::parse(R"([{"token":"é","logprob":-0.25,"bytes":[195,169],"top_logprobs":[]}])"));
    converted = ollama::logprobs_to_openai(json::parse(
        R"([{"token":"a","logprob":-1,"bytes":[97],"top_logprobs":[{"token":"a","logprob":-1},{"logprob":-2},3]},
            "junk", {"logprob":-3}])"));
    EXPECT_EQ(converted, json::parse(R"([{"token":"a","logprob":-1,"bytes":[97],
        "top_logprobs":[{"token":"a","logprob":-1,"bytes":[97]}]}])"));
    EXPECT_EQ(ollama::logprobs_to_openai(json{}), json::array());
    auto plain = parser.parse(R"({"message":{"role":"assistant","content":"x"},"done":false})");
    ASSERT_TRUE(plain);
    EXPECT_TRUE(plain.value().logprobs.empty());
}

TEST(ollama_wire, a_line_with_tool_calls_gives_their_raw_json) {
    ollama::stream_parser parser;
    auto l = parser.parse(
        R"({"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_1","function":{"index":0,"name":"f","arguments":{"a":1}}}]},"done":false})");
    ASSERT_TRUE(l);
    EXPECT_TRUE(l.value().delta.empty());
    EXPECT_EQ(json::parse(l.value().tool_calls),
              json::parse(R"([{"id":"call_1","function":{"index":0,"name":"f","arguments":{"a":1}}}])"));
    auto plain = parser.parse(R"({"message":{"role":"assistant","content":"x"},"done":false})");
    ASSERT_TRUE(plain);
    EXPECT_TRUE(plain.value().tool_calls.empty());
}

TEST_F(ollama_provider_test, streaming_generate_with_passthrough) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto req = generate_request("llama3.2", "Why is the sky blue?", 5);
    req.extra = json{{"system", "Answer briefly."},
                     {"keep_alive", "5m"},
                     {"format", "json"},
                     {"stream", false},
                     {"model", "ignored"}};
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    // format "json": the fake answers in JSON, as Ollama does.
    EXPECT_EQ(json::parse(o.text()), (json{{"answer", mock_text("Why is the sky blue?", 5)}}));
    EXPECT_EQ(o.done->completion_tokens,
              static_cast<std::int64_t>(mock_json_tokens("json", "Why is the sky blue?", 5).size()));
    EXPECT_EQ(o.done->prompt_tokens, fake.last_final()["prompt_eval_count"].get<std::int64_t>());

    json sent = fake.last_request_body();
    EXPECT_EQ(sent["model"], "llama3.2");
    EXPECT_EQ(sent["prompt"], "Why is the sky blue?");
    EXPECT_EQ(sent["system"], "Answer briefly.");
    EXPECT_EQ(sent["keep_alive"], "5m");
    EXPECT_EQ(sent["format"], "json");
    EXPECT_EQ(sent["stream"], true);
}

TEST_F(ollama_provider_test, chat_system_in_extra_becomes_a_message) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto req = chat_request("fake", "hello", 2);
    req.messages = json::array({json{{"role", "user"}, {"content", "hello"}}});
    req.extra = json{{"system", "Be nice."}, {"think", false}};
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    json sent = fake.last_request_body();
    ASSERT_EQ(sent["messages"].size(), 2u);
    EXPECT_EQ(sent["messages"][0], (json{{"role", "system"}, {"content", "Be nice."}}));
    EXPECT_FALSE(sent.contains("system"));
    EXPECT_EQ(sent["think"], false);
}

TEST_F(ollama_provider_test, unknown_model_is_model_not_found) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("nope", "hi"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "model_not_found");
    EXPECT_NE(o.err->message.find("model 'nope' not found"), std::string::npos) << o.err->message;
    EXPECT_TRUE(o.tokens.empty());
}

TEST_F(ollama_provider_test, error_line_mid_stream_is_upstream_error) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("fake", "tell me [[error-mid]]", 10));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_error");
    EXPECT_NE(o.err->message.find("an error was encountered while running the model: unexpected EOF"),
              std::string::npos)
        << o.err->message;
    EXPECT_EQ(o.tokens.size(), 3u);
}

TEST_F(ollama_provider_test, server_closing_mid_stream_is_upstream_error) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, generate_request("fake", "tell me [[close-mid]]", 10));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_error");
    EXPECT_NE(o.err->message.find("Ollama closed the stream before it was done"), std::string::npos) << o.err->message;
    EXPECT_EQ(o.tokens.size(), 3u);
}

TEST_F(ollama_provider_test, http_500_before_streaming) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("fake", "[[error-before]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_error");
    EXPECT_NE(o.err->message.find("HTTP 500"), std::string::npos) << o.err->message;
    EXPECT_NE(o.err->message.find("llama runner process has terminated: signal: killed"), std::string::npos)
        << o.err->message;
    EXPECT_TRUE(o.err->retryable);
}

TEST_F(ollama_provider_test, connection_refused_is_upstream_unavailable) {
    std::string url = "http://127.0.0.1:" + std::to_string(unused_port());
    auto p = make(url);
    auto o = generate_all(*p, chat_request("fake", "hi"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_unavailable");
    EXPECT_EQ(o.err->message, "cannot connect to Ollama at " + url + ": Connection refused");
    EXPECT_TRUE(o.err->retryable);
}

TEST_F(ollama_provider_test, sequential_generations_reuse_the_connection) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto a = generate_all(*p, chat_request("fake", "first", 4));
    ASSERT_TRUE(a.done);
    auto b = generate_all(*p, generate_request("fake", "second", 4));
    ASSERT_TRUE(b.done);
    auto m = run(p->models());
    ASSERT_TRUE(m);
    EXPECT_EQ(fake.requests(), 3u);
    EXPECT_EQ(fake.connections_accepted(), 1u);
}

TEST_F(ollama_provider_test, cancel_mid_stream_closes_the_connection) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto st = std::make_shared<run_state>();
    auto first = st->first_token.get_future();
    auto fut = st->finished.get_future();
    auto g = p->start(chat_request("fake", "wait [[stall]]"), collect(st));
    ASSERT_EQ(first.wait_for(test_timeout), std::future_status::ready);
    g->cancel();
    ASSERT_EQ(fut.wait_for(test_timeout), std::future_status::ready);
    auto o = fut.get();
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "cancelled");
    EXPECT_EQ(o.tokens.size(), 1u);
    EXPECT_TRUE(fake.wait_for_client_close(1, test_timeout));
    g->cancel();  // after the end: harmless
}

TEST_F(ollama_provider_test, cancel_right_after_start) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto st = std::make_shared<run_state>();
    auto fut = st->finished.get_future();
    auto g = p->start(chat_request("fake", "hello", 4), collect(st));
    g->cancel();
    ASSERT_EQ(fut.wait_for(test_timeout), std::future_status::ready);
    auto o = fut.get();
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "cancelled");
}

TEST_F(ollama_provider_test, silence_is_upstream_timeout) {
    testing::fake_ollama fake;
    ollama_config cfg;
    cfg.idle_timeout = 300ms;
    auto p = make(fake.url(), cfg);
    auto o = generate_all(*p, chat_request("fake", "[[stall]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_timeout");
    EXPECT_EQ(o.tokens.size(), 1u);
    EXPECT_TRUE(fake.wait_for_client_close(1, test_timeout));
}

TEST_F(ollama_provider_test, many_concurrent_generations) {
    testing::fake_ollama_options fo;
    fo.token_delay = 1ms;
    testing::fake_ollama fake{fo};
    auto p = make(fake.url());
    constexpr int n = 20;
    std::vector<std::shared_ptr<run_state>> states;
    std::vector<std::shared_ptr<generation>> gens;
    for (int i = 0; i < n; ++i) {
        auto st = std::make_shared<run_state>();
        gens.push_back(p->start(chat_request("fake", "prompt " + std::to_string(i), 6), collect(st)));
        states.push_back(st);
    }
    for (int i = 0; i < n; ++i) {
        auto f = states[static_cast<std::size_t>(i)]->finished.get_future();
        ASSERT_EQ(f.wait_for(test_timeout), std::future_status::ready);
        auto o = f.get();
        ASSERT_TRUE(o.done) << (o.err ? o.err->message : "");
        EXPECT_EQ(o.text(), mock_text("prompt " + std::to_string(i), 6));
    }
}

// --- wire helpers ---------------------------------------------------------------------------

TEST(ollama_wire, parses_lines_in_any_key_order) {
    ollama::stream_parser parser;
    auto a = parser.parse(
        R"({"done":false,"message":{"content":"H\u00e9 \"x\"\n","role":"assistant"},"model":"m","created_at":"2025-03-14T09:26:53.512304Z"})");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a.value().delta, "H\xC3\xA9 \"x\"\n");
    EXPECT_FALSE(a.value().done);

    auto b = parser.parse(
        R"({"model":"m","created_at":"2025-03-14T09:26:53.56523Z","response":"","done":true,"context":[1,2,3],"done_reason":"length","total_duration":412337500,"load_duration":21874100,"prompt_eval_count":31,"prompt_eval_duration":95112000,"eval_count":4,"eval_duration":61203000})");
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_TRUE(b.value().done);
    EXPECT_EQ(b.value().done_reason, "length");
    EXPECT_EQ(b.value().prompt_eval_count, 31);
    EXPECT_EQ(ollama::metrics_json(b.value()), (json{{"total_duration", 412337500},
                                                     {"load_duration", 21874100},
                                                     {"prompt_eval_count", 31},
                                                     {"prompt_eval_duration", 95112000},
                                                     {"eval_count", 4},
                                                     {"eval_duration", 61203000}}));

    auto c = parser.parse(R"({"model":"m","done":true,"eval_count":2})");
    ASSERT_TRUE(c);
    EXPECT_FALSE(c.value().prompt_eval_count);
    EXPECT_EQ(ollama::metrics_json(c.value()), (json{{"eval_count", 2}}));

    auto e = parser.parse(R"({"error":"boom"})");
    ASSERT_TRUE(e);
    EXPECT_TRUE(e.value().has_error);
    EXPECT_EQ(e.value().error, "boom");

    EXPECT_FALSE(parser.parse("not json"));
    EXPECT_FALSE(parser.parse("[1,2]"));
    EXPECT_FALSE(parser.parse(R"({"message":{"content":"x")"));
}

TEST(ollama_wire, error_text) {
    EXPECT_EQ(error_text(R"({"error":"model 'x' not found"})"), "model 'x' not found");
    EXPECT_EQ(error_text("404 page not found\n"), "404 page not found");
}

TEST(ollama_wire, an_embed_answer_with_mistyped_counts_keeps_its_vectors_and_counts_no_tokens) {
    // Found by fuzz_embedding_request: json::value threw type_error on an array count.
    auto c = ollama::parse_embed_response(
        R"({"model":"nomic-embed-text","embeddings":[[0.5,-0.25],[1,0]],"total_duration":12,)"
        R"("prompt_eval_count":[[0.5,-0.25],[1,0]],"load_duration":"1"})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c.value().embeddings, json::parse("[[0.5,-0.25],[1,0]]"));
    EXPECT_EQ(c.value().prompt_tokens, 0);
    EXPECT_EQ(c.value().provider_metrics, json({{"total_duration", 12}}));
}

}  // namespace
}  // namespace llmp::providers

namespace llmp::providers {
namespace {

generation_request embed_request(std::string model, json input) {
    generation_request r;
    r.request_id = "req-embed";
    r.kind = request_kind::embed;
    r.model = std::move(model);
    r.input = std::move(input);
    r.extra = json{{"dimensions", 4}, {"truncate", true}};
    return r;
}

TEST_F(ollama_provider_test, embeddings_come_from_api_embed_in_order_with_the_input_tokens) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, embed_request("fake", json::array({"one", "two three"})));
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.tokens.empty());
    EXPECT_EQ(o.done->embeddings, json::array({mock_embedding("one", 4), mock_embedding("two three", 4)}));
    EXPECT_EQ(o.done->prompt_tokens, mock_prompt_tokens("one") + mock_prompt_tokens("two three"));
    EXPECT_TRUE(o.done->provider_metrics.contains("total_duration"));
    json sent = fake.last_request_body();
    EXPECT_EQ(sent, json({{"model", "fake"}, {"input", {"one", "two three"}}, {"truncate", true}, {"dimensions", 4}}));
}

TEST_F(ollama_provider_test, embedding_an_unknown_model_is_model_not_found) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, embed_request("nope", json::array({"x"})));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "model_not_found");
}

TEST_F(ollama_provider_test, images_go_as_base64_and_a_url_is_refused_before_the_upstream) {
    testing::fake_ollama fake;
    auto p = make(fake.url());
    auto req = chat_request("fake", "what is it?");
    req.messages[1]["images"] = json::array({"iVBORw0KGgo="});
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    EXPECT_EQ(fake.last_request_body()["messages"][1]["images"], json::array({"iVBORw0KGgo="}));
    EXPECT_EQ(fake.stats()["images_received"], 1);

    req.messages[1]["images"] = json::array({"https://example.com/cat.png"});
    const auto before = fake.requests();
    auto refused = generate_all(*p, req);
    ASSERT_TRUE(refused.err);
    EXPECT_EQ(refused.err->code, "invalid_field");
    EXPECT_EQ(fake.requests(), before);
}

}  // namespace
}  // namespace llmp::providers

#include "providers/openai/openai_provider.hpp"

#include "providers/testing/fake_openai.hpp"
#include "providers/testing/fake_logprobs.hpp"
#include "providers/embedding_exchange.hpp"
#include "providers/mock/mock_text.hpp"
#include "providers/openai/openai_wire.hpp"
#include "providers/testing/provider_test_harness.hpp"
#include "providers/request_text.hpp"

namespace llmp::providers {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using test::outcome;

generation_request chat_request(std::string model, std::string user_text, int num_predict = 0) {
    generation_request r;
    r.request_id = "req-1";
    r.kind = request_kind::chat;
    r.model = std::move(model);
    r.messages = json::array({json{{"role", "system"}, {"content", "You are terse."}},
                              json{{"role", "user"}, {"content", std::move(user_text)}}});
    if (num_predict > 0) {
        r.options = json{{"num_predict", num_predict}};
    }
    return r;
}

json weather_tool() {
    return json::parse(R"({"type":"function","function":{"name":"get_weather","description":"Weather in a city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},
        "required":["city"]}}})");
}

class openai_provider_test : public test::io_fixture {
protected:
    std::unique_ptr<provider> make(std::string url, openai_config cfg = {}) {
        cfg.url = std::move(url);
        return make_openai_provider(cfg, ioc_.get_executor());
    }
};

TEST_F(openai_provider_test, models_are_listed_normalized) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    EXPECT_EQ(p->name(), "openai");
    auto init = run(p->init());
    ASSERT_TRUE(init) << init.error().message;
    auto m = run(p->models());
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m.value(), (std::vector<std::string>{"gpt-4o-mini:latest", "Qwen/Qwen2.5-7B-Instruct:latest"}));
}

TEST_F(openai_provider_test, base_url_without_path_gets_v1) {
    testing::fake_openai fake;
    auto p = make("http://127.0.0.1:" + std::to_string(fake.port()));
    auto m = run(p->models());
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m.value().size(), 2u);
}

TEST_F(openai_provider_test, streaming_chat_text_usage_and_finish) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    ASSERT_TRUE(run(p->models()));
    auto req = chat_request("gpt-4o-mini", "Say hi");
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.tokens, mock_tokens("Say hi", 32));
    EXPECT_EQ(o.done->done_reason, "stop");
    EXPECT_EQ(o.done->completion_tokens, 32);
    EXPECT_EQ(o.done->prompt_tokens, mock_prompt_tokens(all_input_text(req)));
    EXPECT_EQ(o.done->provider_metrics["usage"], "upstream");
    // What went up the wire.
    auto body = fake.last_request_body();
    EXPECT_EQ(body["model"], "gpt-4o-mini");
    EXPECT_EQ(body["stream"], true);
    EXPECT_EQ(body["stream_options"]["include_usage"], true);
    EXPECT_EQ(body["messages"][1], (json{{"role", "user"}, {"content", "Say hi"}}));
}

// n > 1: asked of the upstream, whose chunks name their choice's index; choices 1.. come
// through on_choice_token and their finish in completion::choices; usage as the upstream sums it.
TEST_F(openai_provider_test, several_choices_come_by_index_from_one_request) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    ASSERT_TRUE(run(p->models()));
    auto req = chat_request("gpt-4o-mini", "Say hi", 5);
    req.extra["n"] = 3;
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.text(), mock_text("Say hi", 5));
    ASSERT_EQ(o.choice_text.size(), 2u);
    EXPECT_EQ(o.choice_text[1], mock_text("Say hi #1", 5));
    EXPECT_EQ(o.choice_text[2], mock_text("Say hi #2", 5));
    EXPECT_EQ(o.done->completion_tokens, 15);
    ASSERT_EQ(o.done->choices.size(), 2u);
    EXPECT_EQ(o.done->choices[0].index, 1);
    EXPECT_EQ(o.done->choices[0].done_reason, "length");
    EXPECT_EQ(o.done->choices[1].index, 2);
    EXPECT_EQ(fake.last_request_body()["n"], 3);
    // n = 1 asks for nothing.
    auto one = generate_all(*p, chat_request("gpt-4o-mini", "Say hi", 5));
    ASSERT_TRUE(one.done);
    EXPECT_TRUE(one.done->choices.empty());
    EXPECT_FALSE(fake.last_request_body().contains("n"));
}

TEST_F(openai_provider_test, streamed_tool_call_fragments_are_assembled) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    ASSERT_TRUE(run(p->models()));
    auto req = chat_request("gpt-4o-mini", "Paris");
    req.extra["tools"] = json::array({weather_tool()});
    req.extra["tool_choice"] = "auto";
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.tokens.empty());
    EXPECT_EQ(o.done->done_reason, "tool_calls");
    ASSERT_EQ(o.done->tool_calls.size(), 1u);
    const auto& call = o.done->tool_calls[0];
    EXPECT_EQ(call["type"], "function");
    EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
    EXPECT_EQ(call["function"]["name"], "get_weather");
    EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()), (json{{"city", "Paris"}, {"days", 42}}));
    auto body = fake.last_request_body();
    EXPECT_EQ(body["tools"][0], weather_tool());
    EXPECT_EQ(body["tool_choice"], "auto");
}

TEST_F(openai_provider_test, logprobs_are_passed_on_and_gathered_from_every_chunk) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    ASSERT_TRUE(run(p->models()));
    auto req = chat_request("gpt-4o-mini", "Say hi");
    req.options["num_predict"] = 5;
    req.extra["logprobs"] = true;
    req.extra["top_logprobs"] = 3;
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    auto body = fake.last_request_body();
    EXPECT_EQ(body["logprobs"], true);
    EXPECT_EQ(body["top_logprobs"], 3);
    ASSERT_EQ(o.tokens.size(), 5u);
    ASSERT_EQ(o.done->logprobs.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(o.done->logprobs[i], testing::fake_logprob_entry(o.tokens[i], i, 3, false)) << i;
    }
    // Not asked: not sent (an upstream may refuse the field), none gathered.
    req.extra.erase("logprobs");
    req.extra.erase("top_logprobs");
    o = generate_all(*p, req);
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.done->logprobs.empty());
    EXPECT_FALSE(fake.last_request_body().contains("logprobs"));
    EXPECT_FALSE(fake.last_request_body().contains("top_logprobs"));
}

TEST_F(openai_provider_test, ollama_shaped_tool_history_reaches_openai_with_ids_and_string_arguments) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    ASSERT_TRUE(run(p->models()));
    auto req = chat_request("gpt-4o-mini", "Paris");
    req.extra["tools"] = json::array({weather_tool()});
    // As an Ollama client sends it: no call ids, arguments objects, the tool answered by name.
    req.messages.push_back(json::parse(
        R"({"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]})"));
    req.messages.push_back(json::parse(R"({"role":"tool","content":"sunny","tool_name":"get_weather"})"));
    auto o = generate_all(*p, req);
    ASSERT_FALSE(o.err) << o.err->message;  // the fake refuses what OpenAI refuses
    ASSERT_TRUE(o.done);
    EXPECT_TRUE(o.done->tool_calls.empty());  // a tool result gets text
    EXPECT_EQ(o.done->done_reason, "stop");
    auto body = fake.last_request_body();
    EXPECT_EQ(body["messages"][2]["tool_calls"][0], json::parse(R"({"id":"call_2_0","type":"function",
                              "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}})"));
    EXPECT_EQ(body["messages"][3], json::parse(R"({"role":"tool","content":"sunny","tool_call_id":"call_2_0"})"));
}

TEST_F(openai_provider_test, normalized_name_reaches_upstream_as_its_id) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    ASSERT_TRUE(run(p->models()));
    for (const char* asked : {"Qwen/Qwen2.5-7B-Instruct:latest", "Qwen/Qwen2.5-7B-Instruct"}) {
        auto o = generate_all(*p, chat_request(asked, "hello", 3));
        ASSERT_FALSE(o.err) << asked << ": " << o.err->message;
        EXPECT_EQ(fake.last_request_body()["model"], "Qwen/Qwen2.5-7B-Instruct") << asked;
    }
}

TEST_F(openai_provider_test, max_tokens_gives_length) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "count", 5));
    ASSERT_TRUE(o.done) << o.err->message;
    EXPECT_EQ(o.text(), mock_text("count", 5));
    EXPECT_EQ(o.done->done_reason, "length");
    EXPECT_EQ(o.done->completion_tokens, 5);
    EXPECT_EQ(fake.last_request_body()["max_tokens"], 5);
}

TEST_F(openai_provider_test, options_are_mapped) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto req = chat_request("gpt-4o-mini", "x", 4);
    req.options = json{{"num_predict", 4}, {"temperature", 0.2}, {"top_p", 0.5},         {"stop", json::array({"END"})},
                       {"seed", 42},       {"num_ctx", 8192},    {"repeat_penalty", 1.1}};
    auto o = generate_all(*p, req);
    ASSERT_TRUE(o.done) << o.err->message;
    auto body = fake.last_request_body();
    EXPECT_EQ(body["max_tokens"], 4);
    EXPECT_EQ(body["temperature"], 0.2);
    EXPECT_EQ(body["top_p"], 0.5);
    EXPECT_EQ(body["stop"], json::array({"END"}));
    EXPECT_EQ(body["seed"], 42);
    EXPECT_FALSE(body.contains("num_ctx"));
    EXPECT_FALSE(body.contains("repeat_penalty"));
    EXPECT_FALSE(body.contains("options"));
}

TEST_F(openai_provider_test, streaming_completions) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    generation_request r;
    r.request_id = "req-2";
    r.kind = request_kind::generate;
    r.model = "gpt-4o-mini";
    r.prompt = "Once upon";
    r.options = json{{"num_predict", 6}};
    auto o = generate_all(*p, r);
    ASSERT_TRUE(o.done) << o.err->message;
    EXPECT_EQ(o.text(), mock_text("Once upon", 6));
    EXPECT_EQ(o.done->completion_tokens, 6);
    EXPECT_EQ(o.done->prompt_tokens, 2);
    EXPECT_EQ(fake.last_request_body()["prompt"], "Once upon");
    EXPECT_EQ(fake.stats()["last_request"]["prompt"], "Once upon");
}

TEST_F(openai_provider_test, unknown_model_is_model_not_found) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("nope", "hi"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "model_not_found");
    EXPECT_NE(o.err->message.find("The model `nope` does not exist"), std::string::npos) << o.err->message;
    EXPECT_FALSE(o.err->retryable);
}

TEST_F(openai_provider_test, error_event_mid_stream) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "go [[error-mid]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_error");
    EXPECT_NE(o.err->message.find("The server had an error"), std::string::npos) << o.err->message;
    EXPECT_EQ(o.tokens.size(), 3u);
}

TEST_F(openai_provider_test, rate_limit_is_upstream_rate_limited) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "[[429]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_rate_limited");
    EXPECT_TRUE(o.err->retryable);
    EXPECT_NE(o.err->message.find("Retry-After: 1"), std::string::npos) << o.err->message;
    EXPECT_NE(o.err->message.find("Rate limit reached"), std::string::npos) << o.err->message;
}

TEST_F(openai_provider_test, http_500_is_retryable_upstream_error) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "[[error-before]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_error");
    EXPECT_TRUE(o.err->retryable);
}

TEST_F(openai_provider_test, server_closing_mid_stream_is_upstream_error) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "[[close-mid]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_error");
    EXPECT_EQ(o.tokens.size(), 3u);
}

TEST_F(openai_provider_test, connection_refused_is_upstream_unavailable) {
    auto p = make("http://127.0.0.1:" + std::to_string(test::unused_port()) + "/v1");
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "hi"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_unavailable");
    EXPECT_TRUE(o.err->retryable);
    auto r = run(p->init());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "upstream_unavailable");
}

TEST_F(openai_provider_test, cancel_mid_stream_closes_the_connection) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    auto st = std::make_shared<test::run_state>();
    auto first = st->first_token.get_future();
    auto fut = st->finished.get_future();
    auto g = p->start(chat_request("gpt-4o-mini", "wait [[stall]]"), test::collect(st));
    ASSERT_EQ(first.wait_for(test::test_timeout), std::future_status::ready);
    EXPECT_EQ(fake.connections_open(), 1u);
    g->cancel();
    ASSERT_EQ(fut.wait_for(test::test_timeout), std::future_status::ready);
    auto o = fut.get();
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "cancelled");
    EXPECT_EQ(o.tokens.size(), 1u);
    EXPECT_TRUE(fake.wait_for_connections_open_at_most(0, test::test_timeout));
    EXPECT_EQ(fake.generations_aborted(), 1u);
    g->cancel();  // after the end: harmless
}

TEST_F(openai_provider_test, silence_is_upstream_timeout) {
    testing::fake_openai fake;
    openai_config cfg;
    cfg.idle_timeout = 300ms;
    auto p = make(fake.url(), cfg);
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "[[stall]]"));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_timeout");
    EXPECT_TRUE(fake.wait_for_connections_open_at_most(0, test::test_timeout));
}

TEST_F(openai_provider_test, api_key_is_sent_and_never_shown) {
    const std::string key = "sk-test-SECRET-0123456789";
    testing::fake_openai_options fo;
    fo.api_key = key;
    testing::fake_openai fake{fo};

    openai_config with_key;
    with_key.api_key = key;
    auto p = make(fake.url(), with_key);
    ASSERT_TRUE(run(p->init()));
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "hi", 2));
    ASSERT_TRUE(o.done) << o.err->message;
    EXPECT_EQ(fake.last_request_headers()["authorization"], "Bearer " + key);

    openai_config wrong;
    wrong.api_key = "sk-wrong-key-ABCDEFGH";
    auto bad = make(fake.url(), wrong);
    auto r = run(bad->models());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "upstream_auth_failed");
    o = generate_all(*bad, chat_request("gpt-4o-mini", "hi", 2));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_auth_failed");
    EXPECT_EQ(o.err->message.find("sk-wrong-key"), std::string::npos) << o.err->message;
    EXPECT_EQ(o.err->message.find("EFGH"), std::string::npos) << o.err->message;  // not even the tail

    auto none = make(fake.url());
    o = generate_all(*none, chat_request("gpt-4o-mini", "hi", 2));
    ASSERT_TRUE(o.err);
    EXPECT_EQ(o.err->code, "upstream_auth_failed");
}

TEST_F(openai_provider_test, sequential_generations_reuse_the_connection) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    for (int i = 0; i < 3; ++i) {
        auto o = generate_all(*p, chat_request("gpt-4o-mini", "again", 3));
        ASSERT_TRUE(o.done) << o.err->message;
    }
    EXPECT_EQ(fake.requests(), 3u);
    EXPECT_EQ(fake.connections_open(), 1u);
}

TEST_F(openai_provider_test, many_concurrent_generations) {
    testing::fake_openai_options fo;
    fo.token_delay = 1ms;
    fo.threads = 2;
    testing::fake_openai fake{fo};
    auto p = make(fake.url());
    constexpr int n = 20;
    std::vector<std::shared_ptr<test::run_state>> states;
    std::vector<std::shared_ptr<generation>> gens;
    for (int i = 0; i < n; ++i) {
        states.push_back(std::make_shared<test::run_state>());
        gens.push_back(
            p->start(chat_request("gpt-4o-mini", "n" + std::to_string(i), 10), test::collect(states.back())));
    }
    for (int i = 0; i < n; ++i) {
        auto f = states[static_cast<std::size_t>(i)]->finished.get_future();
        ASSERT_EQ(f.wait_for(test::test_timeout), std::future_status::ready);
        auto o = f.get();
        ASSERT_TRUE(o.done) << o.err->message;
        EXPECT_EQ(o.text(), mock_text("n" + std::to_string(i), 10));
    }
}

}  // namespace
}  // namespace llmp::providers

namespace llmp::providers {
namespace {

TEST_F(openai_provider_test, without_usage_chunk_tokens_are_counted) {
    testing::fake_openai_options fo;
    fo.stream_usage = false;
    testing::fake_openai fake{fo};
    auto p = make(fake.url());
    auto o = generate_all(*p, chat_request("gpt-4o-mini", "no usage here", 7));
    ASSERT_TRUE(o.done) << o.err->message;
    EXPECT_EQ(o.done->completion_tokens, 7);
    EXPECT_EQ(o.done->prompt_tokens, 0);
    EXPECT_EQ(o.done->provider_metrics["usage"], "estimated");
}

}  // namespace
}  // namespace llmp::providers

namespace llmp::providers {
namespace {

TEST_F(openai_provider_test, embeddings_come_from_post_embeddings_as_floats_with_usage) {
    testing::fake_openai fake;
    auto p = make(fake.url());
    generation_request r;
    r.request_id = "req-embed";
    r.kind = request_kind::embed;
    r.model = "gpt-4o-mini";
    r.input = nlohmann::json::array({"one", "two three"});
    r.extra = nlohmann::json{{"dimensions", 3}, {"truncate", true}};
    auto o = generate_all(*p, r);
    ASSERT_FALSE(o.err) << o.err->message;
    ASSERT_TRUE(o.done);
    EXPECT_EQ(o.done->embeddings, nlohmann::json::array({mock_embedding("one", 3), mock_embedding("two three", 3)}));
    EXPECT_EQ(o.done->prompt_tokens, mock_prompt_tokens("one") + mock_prompt_tokens("two three"));
    auto sent = fake.last_request_body();
    EXPECT_EQ(sent, nlohmann::json({{"model", "gpt-4o-mini"},
                                    {"input", {"one", "two three"}},
                                    {"encoding_format", "float"},
                                    {"dimensions", 3}}));
}

TEST(openai_wire, an_embeddings_answer_in_base64_or_out_of_order_is_read_in_index_order) {
    auto c = openai::parse_embed_response(
        R"({"object":"list","data":[{"object":"embedding","index":1,"embedding":"AAAAPwAAgL4="},
            {"object":"embedding","index":0,"embedding":[1.0,2.0]}],"usage":{"prompt_tokens":3,"total_tokens":3}})");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c.value().embeddings, nlohmann::json::parse("[[1.0,2.0],[0.5,-0.25]]"));
    EXPECT_EQ(c.value().prompt_tokens, 3);
    EXPECT_FALSE(openai::parse_embed_response(R"({"object":"list"})"));
}

}  // namespace
}  // namespace llmp::providers

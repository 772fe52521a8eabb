// The openai provider and the pool of upstreams end to end: real llmproxy processes (api +
// worker) against the real broker, with fake_openai / fake_ollama processes as the upstreams.

#include "e2e_common.hpp"
#include "support/sse_parser.hpp"

#include <csignal>
#include <thread>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;

nlohmann::json fake_stats(unsigned fake_port) {
    auto r = http_get(fake_port, "/_fake/stats");
    EXPECT_EQ(r.status, 200u) << r.error;
    return json_of(r.body);
}

std::string openai_url(unsigned fake_port) {
    return "http://127.0.0.1:" + std::to_string(fake_port) + "/v1";
}
std::string ollama_url(unsigned fake_port) {
    return "http://127.0.0.1:" + std::to_string(fake_port);
}

TEST(openai_provider_e2e, chat_streams_the_exact_text_with_the_api_key_sent_and_never_logged) {
    LLMP_REQUIRE_BROKER();
    const std::string key = "sk-e2e-NEVER-LOG-ME-6d2f1a";
    cluster c{amqp_url};
    auto fake = c.start_fake_openai({"--token-delay-ms", "1"}, {"FAKE_OPENAI_API_KEY=" + key});
    auto port = c.start_api();
    auto& worker = c.start_worker({"--provider", "openai", "--openai-url", openai_url(fake), "--log-level", "debug"},
                                  {"LLMPROXY_OPENAI_API_KEY=" + key});
    ASSERT_TRUE(c.wait_for_model(port, "Qwen/Qwen2.5-7B-Instruct:latest")) << c.logs();

    // The client asks with the upstream's own id; it reaches the upstream as exactly that id.
    const std::string prompt = "Tell me about the sea";
    std::vector<std::string> bodies{chat_body("Qwen/Qwen2.5-7B-Instruct", prompt, 9),
                                    generate_body("gpt-4o-mini", prompt, 40)};
    auto results = run_concurrent_streams(port, "/api/chat", {bodies[0]}, 1);
    ASSERT_EQ(results.size(), 1u);
    const auto& r = results[0];
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.text(), providers::mock_text(prompt, 9));
    const auto* done = r.find("done");
    ASSERT_NE(done, nullptr) << r.body;
    auto d = json_of(done->data);
    EXPECT_EQ(d["provider"], "openai");
    EXPECT_EQ(d["completion_tokens"], 9);
    EXPECT_EQ(d["done_reason"], "length");  // max_tokens 9 < the fake's 32
    EXPECT_EQ(d["prompt_tokens"], providers::mock_prompt_tokens(prompt + "\n"));

    auto stats = fake_stats(fake);
    EXPECT_EQ(stats["last_request"]["model"], "Qwen/Qwen2.5-7B-Instruct");
    EXPECT_EQ(stats["last_request"]["max_tokens"], 9);
    EXPECT_EQ(stats["last_request"]["stream_options"]["include_usage"], true);
    EXPECT_EQ(stats["last_headers"]["authorization"], "Bearer " + key);

    // A generate through /api/generate, without a limit below the fake's own length: "stop".
    auto g = run_concurrent_streams(port, "/api/generate", {bodies[1]}, 1);
    ASSERT_EQ(g[0].status, 200u) << g[0].body;
    EXPECT_EQ(g[0].text(), providers::mock_text(prompt, 32));
    d = json_of(g[0].find("done")->data);
    EXPECT_EQ(d["done_reason"], "stop");
    EXPECT_EQ(fake_stats(fake)["last_request"]["prompt"], prompt);

    // The key is in no log line of the worker (or the api).
    EXPECT_EQ(worker.log().find(key), std::string::npos);
    EXPECT_EQ(c.logs().find("NEVER-LOG-ME"), std::string::npos);
    EXPECT_NE(worker.log().find("openai_api_key=set"), std::string::npos);
}

TEST(openai_provider_e2e, openai_route_to_openai_upstream_keeps_text_usage_and_finish_reason) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto fake = c.start_fake_openai();
    auto port = c.start_api();
    c.start_worker({"--provider", "openai", "--openai-url", openai_url(fake)});
    ASSERT_TRUE(c.wait_for_model(port, "gpt-4o-mini:latest")) << c.logs();
    nlohmann::json req{
        {"model", "gpt-4o-mini"}, {"messages", nlohmann::json::array({{{"role", "user"}, {"content", "Hello proxy"}}})},
        {"max_tokens", 6},        {"seed", 7},
        {"stream", true},         {"stream_options", {{"include_usage", true}}}};
    auto r = http_post(port, "/v1/chat/completions", req.dump());
    ASSERT_EQ(r.status, 200u) << r.body;
    std::vector<sse_event> events;
    sse_parser parser;
    parser.feed(r.body, events);
    ASSERT_FALSE(events.empty()) << r.body;
    EXPECT_EQ(events.back().data, "[DONE]");
    std::string text;
    std::string finish;
    nlohmann::json usage;
    for (const auto& e : events) {
        if (e.data == "[DONE]") {
            continue;
        }
        auto j = json_of(e.data);
        if (j.contains("choices") && !j["choices"].empty()) {
            const auto& ch = j["choices"][0];
            if (ch["delta"].contains("content") && ch["delta"]["content"].is_string()) {
                text += ch["delta"]["content"].get<std::string>();
            }
            if (ch["finish_reason"].is_string()) {
                finish = ch["finish_reason"].get<std::string>();
            }
        }
        if (j.contains("usage") && j["usage"].is_object()) {
            usage = j["usage"];
        }
    }
    EXPECT_EQ(text, providers::mock_text("Hello proxy", 6));
    EXPECT_EQ(finish, "length");
    EXPECT_EQ(usage["completion_tokens"], 6) << usage;
    EXPECT_EQ(usage["prompt_tokens"], 2) << usage;  // the fake's count, passed through
    auto upstream = fake_stats(fake)["last_request"];
    EXPECT_EQ(upstream["model"], "gpt-4o-mini");
    EXPECT_EQ(upstream["max_tokens"], 6);
    EXPECT_EQ(upstream["seed"], 7);
}

TEST(openai_provider_e2e, upstream_errors_reach_the_client) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto fake = c.start_fake_openai();
    auto port = c.start_api();
    c.start_worker({"--provider", "openai", "--openai-url", openai_url(fake)});
    ASSERT_TRUE(c.wait_for_model(port, "gpt-4o-mini:latest")) << c.logs();
    auto results = run_concurrent_streams(port, "/api/chat", {chat_body("gpt-4o-mini", "go [[error-mid]]", 10)}, 1);
    // Mid-stream: three tokens (the worker may coalesce them into fewer events), then an error
    // event, no done.
    auto three = providers::mock_tokens("go [[error-mid]]", 10);
    EXPECT_EQ(results[0].text(), three[0] + three[1] + three[2]) << results[0].body;
    const auto* err = results[0].find("error");
    ASSERT_NE(err, nullptr) << results[0].body;
    EXPECT_EQ(json_of(err->data)["code"], "upstream_error") << err->data;
    EXPECT_EQ(results[0].find("done"), nullptr) << results[0].body;
    // Rate limited (not streaming): the client gets 429 with Retry-After, and the upstream's words.
    auto r = http_post(port, "/api/chat", chat_body("gpt-4o-mini", "[[429]]", 10, /*stream=*/false));
    EXPECT_EQ(r.status, 429u) << r.body;
    EXPECT_EQ(r.headers["retry-after"], "1");
    EXPECT_NE(r.body.find("upstream_rate_limited"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("Rate limit reached"), std::string::npos) << r.body;
}

TEST(openai_provider_e2e, pool_spreads_load_routes_by_model_and_survives_a_dead_upstream) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto ollama = c.start_fake_ollama({"--token-delay-ms", "5", "--models", "llama3.2:latest,shared:latest"});
    auto openai = c.start_fake_openai({"--token-delay-ms", "5", "--models", "gpt-4o-mini,shared"});
    auto port = c.start_api();
    auto& worker =
        c.start_worker({"--upstream", "ollama=" + ollama_url(ollama), "--upstream", "openai=" + openai_url(openai)});
    for (const char* m : {"llama3.2:latest", "gpt-4o-mini:latest", "shared:latest"}) {
        ASSERT_TRUE(c.wait_for_model(port, m)) << m << "\n" << c.logs();
    }

    // A model both serve: twenty concurrent streams split over the two upstreams.
    std::vector<std::string> bodies;
    for (int i = 0; i < 20; ++i) {
        bodies.push_back(chat_body("shared", "spread " + std::to_string(i), 20));
    }
    auto results = run_concurrent_streams(port, "/api/chat", bodies, 2);
    for (int i = 0; i < 20; ++i) {
        ASSERT_EQ(results[i].status, 200u) << results[i].body;
        EXPECT_EQ(results[i].text(), providers::mock_text("spread " + std::to_string(i), 20)) << i;
    }
    auto on_ollama = fake_stats(ollama)["generations_started"].get<int>();
    auto on_openai = fake_stats(openai)["generations_started"].get<int>();
    EXPECT_EQ(on_ollama + on_openai, 20);
    EXPECT_GE(on_ollama, 5) << "load is spread";
    EXPECT_GE(on_openai, 5) << "load is spread";

    // A model only one upstream has goes there.
    auto only = run_concurrent_streams(port, "/api/chat", {chat_body("gpt-4o-mini", "only openai", 4)}, 1);
    ASSERT_EQ(only[0].status, 200u) << only[0].body;
    EXPECT_EQ(only[0].text(), providers::mock_text("only openai", 4));
    EXPECT_EQ(fake_stats(openai)["generations_started"].get<int>(), on_openai + 1);
    only = run_concurrent_streams(port, "/api/chat", {chat_body("llama3.2", "only ollama", 4)}, 1);
    ASSERT_EQ(only[0].status, 200u) << only[0].body;
    EXPECT_EQ(fake_stats(ollama)["generations_started"].get<int>(), on_ollama + 1);

    // The Ollama upstream dies: requests for the shared model keep succeeding on the other.
    c.fake_ollama(ollama).signal(SIGKILL);
    ASSERT_TRUE(c.fake_ollama(ollama).wait_exit(10s));
    bodies.clear();
    for (int i = 0; i < 10; ++i) {
        bodies.push_back(chat_body("shared", "after the loss " + std::to_string(i), 5));
    }
    results = run_concurrent_streams(port, "/api/chat", bodies, 2);
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(results[i].status, 200u) << results[i].body;
        EXPECT_EQ(results[i].text(), providers::mock_text("after the loss " + std::to_string(i), 5))
            << i << ": " << results[i].body << "\n"
            << worker.log();
    }
    EXPECT_NE(worker.log().find("msg=\"upstream down\""), std::string::npos);
}

}  // namespace
}  // namespace llmp::testing

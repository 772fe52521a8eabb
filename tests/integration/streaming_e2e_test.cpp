// The streaming spine end to end: HTTP -> RabbitMQ -> workers -> provider -> SSE, with real
// processes and the real broker.

#include "e2e_common.hpp"

#include <array>
#include <set>
#include <sstream>

namespace llmp::testing {
namespace {

/// Checks one stream against the mock's deterministic answer; returns a failure text or "".
std::string check_stream(const stream_result& r, const std::string& prompt, int n) {
    if (r.status != 200 || !r.error.empty()) {
        return "status " + std::to_string(r.status) + " error " + r.error + " body " + r.body;
    }
    if (r.events.empty() || r.events.front().event != "start") {
        return "first event is not start";
    }
    auto expected = providers::mock_text(prompt, n);
    if (r.text() != expected) {
        return "text '" + r.text() + "' != expected '" + expected + "'";
    }
    // Token ids strictly increase and end at n (the worker's token count).
    long last = 0;
    for (const auto& e : r.events) {
        if (e.event == "token") {
            long id = std::stol(e.id);
            if (id <= last) {
                return "token ids out of order";
            }
            last = id;
        }
    }
    if (last != n) {
        return "last token id " + std::to_string(last) + " != " + std::to_string(n);
    }
    const auto* done = r.find("done");
    if (done == nullptr || &r.events.back() != done) {
        return "no done event at the end";
    }
    auto d = json_of(done->data);
    if (d["completion_tokens"] != n || d["prompt_tokens"] != providers::mock_prompt_tokens(prompt + "\n") ||
        d["done_reason"] != "stop" || !d["worker_id"].is_string() || !(d["ttft_ms"].get<double>() >= 0) ||
        !(d["total_ms"].get<double>() >= d["ttft_ms"].get<double>())) {
        return "bad done event: " + done->data;
    }
    return {};
}

TEST(streaming_e2e, three_hundred_concurrent_streams_over_two_apis_and_three_workers) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    std::vector<unsigned> ports{c.start_api(), c.start_api()};
    for (int i = 0; i < 3; ++i) {
        c.start_worker({"--provider", "mock", "--mock-token-delay-us", "2000"});
    }
    for (auto p : ports) {
        ASSERT_TRUE(c.wait_for_model(p, "mock:latest")) << c.logs();
    }
    constexpr int streams = 300;
    std::vector<stream_request> reqs;
    std::vector<std::pair<std::string, int>> expect;
    for (int i = 0; i < streams; ++i) {
        std::string prompt = "client " + std::to_string(i) + " asks something";
        int n = 5 + (i * 7) % 40;
        bool chat = i % 2 == 0;
        reqs.push_back({ports[i % 2], chat ? "/api/chat" : "/api/generate",
                        chat ? chat_body("mock", prompt, n) : generate_body("mock", prompt, n)});
        expect.emplace_back(prompt, n);
    }
    auto results = run_concurrent_streams(reqs, 2);
    std::set<std::string> workers_used;
    int failures = 0;
    for (int i = 0; i < streams; ++i) {
        auto why = check_stream(results[i], expect[i].first, expect[i].second);
        if (!why.empty() && ++failures <= 5) {
            ADD_FAILURE() << "stream " << i << ": " << why;
        }
        if (const auto* d = results[i].find("done")) {
            workers_used.insert(json_of(d->data)["worker_id"].get<std::string>());
        }
    }
    EXPECT_EQ(failures, 0) << c.logs().substr(0, 20000);
    EXPECT_EQ(workers_used.size(), 3u) << "the queue should spread work over every worker";
}

/// The sum of the samples of `name` (no labels) on the API server's /metrics.
double api_metric(unsigned port, const std::string& name) {
    auto r = http_get(port, "/metrics");
    std::istringstream in{r.body};
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with(name + " ")) {
            return std::stod(line.substr(name.size() + 1));
        }
    }
    ADD_FAILURE() << name << " not in /metrics";
    return 0;
}

/// Runs `streams` concurrent streams of `tokens` tokens on one API server and checks each
/// text exactly; returns the API's counts of {chunk messages, frames, tokens relayed}.
std::array<double, 3> run_and_check(cluster& c, unsigned port, int streams, int tokens) {
    std::vector<std::string> bodies;
    for (int i = 0; i < streams; ++i) {
        bodies.push_back(generate_body("mock", "stream " + std::to_string(i) + " of many", tokens));
    }
    auto results = run_concurrent_streams(port, "/api/generate", bodies, 2);
    int failures = 0;
    for (int i = 0; i < streams; ++i) {
        auto why = check_stream(results[i], "stream " + std::to_string(i) + " of many", tokens);
        if (!why.empty() && ++failures <= 5) {
            ADD_FAILURE() << "stream " << i << ": " << why;
        }
    }
    EXPECT_EQ(failures, 0) << c.logs().substr(0, 20000);
    return {api_metric(port, "llmproxy_chunk_messages_received_total"),
            api_metric(port, "llmproxy_chunk_frames_received_total"),
            api_metric(port, "llmproxy_tokens_relayed_total")};
}

TEST(streaming_e2e, concurrent_streams_share_chunk_messages_and_each_arrives_exact) {
    // Issue 13: a worker sends one message per API server per flush, carrying a frame per
    // stream (broker/chunk_mux.hpp). 120 streams at 2 ms/token overlap all the time, so the
    // messages must carry several streams each, and every stream must still be exact and in
    // order with its done event last (check_stream).
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    for (int i = 0; i < 2; ++i) {
        c.start_worker({"--provider", "mock", "--mock-token-delay-us", "2000"});
    }
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    auto [messages, frames, tokens] = run_and_check(c, port, 120, 40);
    EXPECT_EQ(tokens, 120.0 * 40);
    ASSERT_GT(messages, 0);
    EXPECT_GE(frames / messages, 2.0) << "streams per chunk message: " << frames << " frames in " << messages
                                      << " messages";
    EXPECT_LE(messages, tokens / 4) << "tokens per broker message should grow with the load";
}

TEST(streaming_e2e, workers_without_multiplexing_still_stream_exactly) {
    // --multiplex-chunks=false: one raw message per stream (`<server-id>.chunk`), what API
    // servers of an earlier version read; this API server reads both.
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--provider", "mock", "--mock-token-delay-us", "2000", "--multiplex-chunks", "false"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    auto [messages, frames, tokens] = run_and_check(c, port, 20, 30);
    EXPECT_EQ(tokens, 20.0 * 30);
    EXPECT_EQ(frames, messages) << "one stream per message";
}

TEST(streaming_e2e, non_stream_reply_is_one_json_object) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--mock-token-delay-us", "0"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    auto r = http_post(port, "/api/chat", chat_body("mock", "hello there", 9, false));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["content-type"], "application/json");
    EXPECT_FALSE(r.headers["x-request-id"].empty());
    auto j = json_of(r.body);
    EXPECT_EQ(j["message"]["role"], "assistant");
    EXPECT_EQ(j["message"]["content"], providers::mock_text("hello there", 9));
    EXPECT_EQ(j["completion_tokens"], 9);
    EXPECT_EQ(j["done"], true);
    EXPECT_EQ(j["request_id"], r.headers["x-request-id"]);

    auto g = http_post(port, "/api/generate", generate_body("mock", "why", 4, false));
    ASSERT_EQ(g.status, 200) << g.body;
    EXPECT_EQ(json_of(g.body)["response"], providers::mock_text("why", 4));
}

TEST(streaming_e2e, sse_bytes_are_what_the_spec_and_curl_expect) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--mock-token-delay-us", "0"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    auto r = http_post(port, "/api/generate", generate_body("mock", "bytes", 3));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"], "text/event-stream");
    EXPECT_EQ(r.headers["cache-control"], "no-cache");
    EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
    EXPECT_EQ(r.headers.count("content-length"), 0u);
    auto id = r.headers["x-request-id"];
    auto toks = providers::mock_tokens("bytes", 3);
    std::string expected_prefix = "event: start\ndata: {\"request_id\":\"" + id + "\",\"model\":\"mock\"}\n\n";
    EXPECT_EQ(r.body.substr(0, expected_prefix.size()), expected_prefix);
    // Whatever the coalescing, the token payloads concatenate to the answer and the body ends
    // with one done event.
    std::vector<sse_event> evs;
    sse_parser{}.feed(r.body, evs);
    std::string text;
    for (const auto& e : evs) {
        if (e.event == "token") {
            text += json_of(e.data)["content"].get<std::string>();
        }
    }
    EXPECT_EQ(text, toks[0] + toks[1] + toks[2]);
    EXPECT_EQ(evs.back().event, "done");
    EXPECT_EQ(r.body.substr(r.body.size() - 2), "\n\n");
}

TEST(streaming_e2e, through_the_ollama_provider_against_the_fake_ollama) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto ollama = c.start_fake_ollama({"--token-delay-ms", "1"});
    auto port = c.start_api();
    for (int i = 0; i < 2; ++i) {
        c.start_worker({"--provider", "ollama", "--ollama-url", "http://127.0.0.1:" + std::to_string(ollama)});
    }
    ASSERT_TRUE(c.wait_for_model(port, "llama3.2:latest")) << c.logs();
    std::vector<std::string> bodies;
    std::vector<std::pair<std::string, int>> expect;
    for (int i = 0; i < 60; ++i) {
        std::string prompt = "ollama client " + std::to_string(i);
        int n = 3 + i % 20;
        bodies.push_back(i % 2 ? chat_body("llama3.2", prompt, n) : generate_body("llama3.2", prompt, n));
        expect.emplace_back(prompt, n);
    }
    std::vector<stream_request> reqs;
    for (int i = 0; i < 60; ++i) {
        reqs.push_back({port, i % 2 ? "/api/chat" : "/api/generate", bodies[i]});
    }
    auto results = run_concurrent_streams(reqs, 2);
    for (int i = 0; i < 60; ++i) {
        const auto& r = results[i];
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.text(), providers::mock_text(expect[i].first, expect[i].second)) << "stream " << i;
        const auto* done = r.find("done");
        ASSERT_NE(done, nullptr) << r.body;
        auto d = json_of(done->data);
        // The counts are the ones the (fake) Ollama reported in its final object.
        EXPECT_EQ(d["completion_tokens"], expect[i].second);
        EXPECT_EQ(d["provider"], "ollama");
        EXPECT_GT(d["prompt_tokens"].get<int>(), 0);
        EXPECT_GT(d["tokens_per_s"].get<double>(), 0);
    }
}

// A worker keeps one idle upstream connection per generation it can run: a second round of as
// many generations at once as the first reuses the first round's connections. (With the HTTP
// client's default of 64 kept, a worker of 100 slots closed 36 connections after every full
// round and opened 36 again: under load those connects queued on the upstream's accept.)
TEST(streaming_e2e, a_worker_reuses_an_upstream_connection_for_every_generation_it_can_run_at_once) {
    LLMP_REQUIRE_BROKER();
    constexpr int slots = 100;
    cluster c{amqp_url};
    // 12 tokens x 100 ms: every generation of a round holds its connection ~1.2 s, so the
    // round's 100 requests are at the upstream together.
    auto ollama = c.start_fake_ollama({"--token-delay-ms", "100"});
    auto port = c.start_api();
    c.start_worker({"--provider", "ollama", "--ollama-url", "http://127.0.0.1:" + std::to_string(ollama),
                    "--concurrency", std::to_string(slots)});
    ASSERT_TRUE(c.wait_for_model(port, "llama3.2:latest")) << c.logs();
    struct counts {
        std::uint64_t accepted = 0;
        std::uint64_t reads = 0;  // requests that are not generations: the worker's model list reads
    };
    auto stats = [&] {
        auto j = json_of(http_get(ollama, "/_fake/stats").body);
        return counts{j["connections_accepted"].get<std::uint64_t>(),
                      j["requests"].get<std::uint64_t>() - j["posts"].get<std::uint64_t>()};
    };
    auto round = [&](int n) {
        std::vector<stream_request> reqs;
        for (int i = 0; i < slots; ++i) {
            reqs.push_back({port, "/api/chat",
                            chat_body("llama3.2", "round " + std::to_string(n) + " stream " + std::to_string(i), 12)});
        }
        for (const auto& r : run_concurrent_streams(reqs, 2)) {
            ASSERT_EQ(r.status, 200) << r.body;
            ASSERT_NE(r.find("done"), nullptr) << r.body;
        }
    };
    round(1);
    const auto first = stats();
    EXPECT_GE(first.accepted, static_cast<std::uint64_t>(slots)) << "the first round did not run at once";
    round(2);
    // No generation of the second round connected anew; the model list the worker re-reads on
    // its heartbeat may have, while every pooled connection was busy.
    const auto second = stats();
    EXPECT_LE(second.accepted - first.accepted, second.reads - first.reads) << c.logs();
}

// The broker may deliver a worker more requests than --concurrency (--prefetch-headroom: its
// generations ended, their answers await the broker's confirm); the worker still runs no more
// than --concurrency generations at once, and starts a waiting one as a slot frees.
TEST(streaming_e2e, a_worker_runs_no_more_generations_at_once_than_its_concurrency_whatever_its_prefetch) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto ollama = c.start_fake_ollama({"--token-delay-ms", "40"});
    auto port = c.start_api();
    c.start_worker({"--provider", "ollama", "--ollama-url", "http://127.0.0.1:" + std::to_string(ollama),
                    "--concurrency", "2", "--prefetch-headroom", "4"});
    ASSERT_TRUE(c.wait_for_model(port, "llama3.2:latest")) << c.logs();
    std::vector<stream_request> reqs;
    for (int i = 0; i < 8; ++i) {
        reqs.push_back({port, "/api/chat", chat_body("llama3.2", "slot " + std::to_string(i), 5)});
    }
    for (const auto& r : run_concurrent_streams(reqs, 8)) {
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_NE(r.find("done"), nullptr) << r.body;
    }
    auto stats = json_of(http_get(ollama, "/_fake/stats").body);
    EXPECT_EQ(stats["posts"].get<int>(), 8);
    EXPECT_EQ(stats["posts_at_once_max"].get<int>(), 2) << stats.dump() << c.logs();
}

}  // namespace
}  // namespace llmp::testing

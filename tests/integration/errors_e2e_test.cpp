// Bad input and failures end to end: each has a defined outcome, and no client hangs.

#include "e2e_common.hpp"

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;

class errors_e2e : public ::testing::Test {
protected:
    void SetUp() override {
        auto url = test_amqp_url();
        if (!url) {
            GTEST_SKIP() << "LLMPROXY_TEST_AMQP_URL is not set (scripts/test sets it)";
        }
        c_ = std::make_unique<cluster>(*url);
        port_ = c_->start_api({"--body-limit", "4096"});
        c_->start_worker({"--mock-token-delay-us", "0"});
        ASSERT_TRUE(c_->wait_for_model(port_, "mock:latest")) << c_->logs();
    }

    /// Checks the native error shape and returns the code.
    static std::string error_code(const http_reply& r) {
        auto j = json_of(r.body);
        EXPECT_TRUE(j.is_object() && j["error"].is_object()) << r.body;
        EXPECT_EQ(r.headers.at("content-type"), "application/json");
        if (!j.is_object() || !j["error"].is_object()) {
            return {};
        }
        EXPECT_TRUE(j["error"]["message"].is_string() && !j["error"]["message"].get<std::string>().empty());
        return j["error"]["code"].get<std::string>();
    }

    std::unique_ptr<cluster> c_;
    unsigned port_ = 0;
};

TEST_F(errors_e2e, malformed_and_incomplete_requests_get_400) {
    auto bad_json = http_post(port_, "/api/chat", "{\"model\": \"mock\", ");
    EXPECT_EQ(bad_json.status, 400);
    EXPECT_EQ(error_code(bad_json), "invalid_json");
    auto no_model = http_post(port_, "/api/chat", R"({"messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(no_model.status, 400);
    EXPECT_EQ(error_code(no_model), "missing_field");
    auto no_messages = http_post(port_, "/api/chat", R"({"model":"mock"})");
    EXPECT_EQ(no_messages.status, 400);
    auto no_prompt = http_post(port_, "/api/generate", R"({"model":"mock"})");
    EXPECT_EQ(no_prompt.status, 400);
    EXPECT_NE(json_of(no_prompt.body)["error"]["message"].get<std::string>().find("prompt"), std::string::npos);
    auto empty = http_post(port_, "/api/generate", "");
    EXPECT_EQ(empty.status, 400);
}

TEST_F(errors_e2e, unknown_model_is_404_naming_the_served_ones) {
    auto r = http_post(port_, "/api/chat", chat_body("no-such-model", "hi", 3));
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(error_code(r), "model_not_found");
    EXPECT_NE(r.body.find("mock:latest"), std::string::npos) << r.body;
}

TEST_F(errors_e2e, oversized_body_is_413_wrong_method_405_unknown_path_404) {
    std::string big = chat_body("mock", std::string(8000, 'x'), 3);
    auto r = http_post(port_, "/api/chat", big);
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(error_code(r), "payload_too_large");
    auto m = http_get(port_, "/api/chat");
    EXPECT_EQ(m.status, 405) << m.error;
    EXPECT_EQ(error_code(m), "method_not_allowed");
    EXPECT_EQ(m.headers["allow"], "POST");
    auto p = http_get(port_, "/api/nothing-here");
    EXPECT_EQ(p.status, 404);
    EXPECT_EQ(error_code(p), "not_found");
    // The server is still fine afterwards.
    EXPECT_EQ(http_get(port_, "/healthz").status, 200);
}

// Hostile numbers and nesting (issue 11): a 400 in each front door's own error shape, before
// anything is queued. The timeout used to become the AMQP expiration as sent (RabbitMQ closes
// the channel above 2^32-1) and to overflow received_at_ms + timeout_ms.
TEST_F(errors_e2e, hostile_numbers_and_nesting_get_400_in_each_flavour) {
    using headers = std::vector<std::pair<std::string, std::string>>;
    const headers huge_timeout{{"Content-Type", "application/json"}, {"X-Request-Timeout-Ms", "99999999999999"}};
    const std::string deep = std::string(1000, '[') + std::string(1000, ']');
    const std::string messages = R"("messages":[{"role":"user","content":"hi"}])";
    struct door {
        std::string path;
        std::string body;   // a valid body without the closing brace
        std::string shape;  // native, openai, ollama
    };
    for (const auto& d : {door{"/api/chat", R"({"model":"mock",)" + messages, "native"},
                          door{"/v1/chat/completions", R"({"model":"mock",)" + messages, "openai"},
                          door{"/ollama/api/chat", R"({"model":"mock",)" + messages, "ollama"}}) {
        SCOPED_TRACE(d.path);
        auto check = [&](const http_reply& r, const std::string& code, const std::string& says) {
            EXPECT_EQ(r.status, 400) << r.body << r.error;
            auto j = json_of(r.body);
            if (d.shape == "ollama") {
                ASSERT_TRUE(j.is_object() && j["error"].is_string()) << r.body;
                EXPECT_NE(j["error"].get<std::string>().find(says), std::string::npos) << r.body;
                return;
            }
            ASSERT_TRUE(j.is_object() && j["error"].is_object()) << r.body;
            EXPECT_EQ(j["error"]["code"], code) << r.body;
            EXPECT_NE(j["error"]["message"].get<std::string>().find(says), std::string::npos) << r.body;
            if (d.shape == "openai") {
                EXPECT_EQ(j["error"]["type"], "invalid_request_error") << r.body;
            }
        };
        check(http_request(port_, "POST", d.path, d.body + "}", huge_timeout), "invalid_field", "X-Request-Timeout-Ms");
        check(http_request(port_, "POST", d.path, d.body + "}",
                           headers{{"Content-Type", "application/json"}, {"X-Priority", "256"}}),
              "invalid_field", "X-Priority");
        check(http_post(port_, d.path, d.body + R"(,"tools":)" + deep + "}"), "invalid_json", "deeper than 64");
        if (d.shape == "openai") {
            check(http_post(port_, d.path, d.body + R"(,"response_format":{"type":5}})"), "invalid_field",
                  "response_format");
            check(http_post(port_, d.path, d.body + R"(,"max_tokens":2147483648})"), "invalid_field", "max_tokens");
        } else {
            check(http_post(port_, d.path, d.body + R"(,"timeout_ms":99999999999999})"), "invalid_field", "timeout_ms");
            check(http_post(port_, d.path, d.body + R"(,"priority":4294967296})"), "invalid_field", "priority");
            check(http_post(port_, d.path, d.body + R"(,"options":{"num_predict":"5"}})"), "invalid_field",
                  "num_predict");
        }
        // The connection-level picture is intact: a normal request on the same door completes.
        auto fine = http_request(port_, "POST", d.path, d.body + R"(,"stream":false})",
                                 headers{{"Content-Type", "application/json"}, {"X-Request-Timeout-Ms", "60000"}});
        EXPECT_EQ(fine.status, 200) << fine.body << fine.error;
    }
    EXPECT_EQ(http_get(port_, "/healthz").status, 200);
}

TEST_F(errors_e2e, provider_failure_mid_stream_reaches_the_client_as_an_error_event) {
    auto results = run_concurrent_streams(
        port_, "/api/chat",
        {chat_body("mock", "please [[mock:fail-after=3]]", 10), chat_body("mock", "[[mock:fail]] now", 10)});
    const auto& mid = results[0];
    ASSERT_EQ(mid.status, 200);
    // Tokens may be coalesced into fewer events; the text is what counts.
    auto toks = providers::mock_tokens("please [[mock:fail-after=3]]", 10);
    EXPECT_EQ(mid.text(), toks[0] + toks[1] + toks[2]);
    ASSERT_FALSE(mid.events.empty());
    EXPECT_EQ(mid.events.back().event, "error");
    EXPECT_EQ(json_of(mid.events.back().data)["code"], "provider_error");
    EXPECT_EQ(mid.find("done"), nullptr);
    const auto& before = results[1];
    EXPECT_EQ(before.tokens, 0u);
    EXPECT_EQ(before.events.back().event, "error");

    // Non-stream: the error becomes the HTTP status.
    auto r = http_post(port_, "/api/chat", chat_body("mock", "[[mock:fail]]", 3, false));
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(error_code(r), "provider_error");
}

TEST(errors_e2e_ollama, upstream_failures_end_the_stream_with_an_error_event) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto ollama = c.start_fake_ollama();
    auto port = c.start_api();
    c.start_worker({"--provider", "ollama", "--ollama-url", "http://127.0.0.1:" + std::to_string(ollama)});
    ASSERT_TRUE(c.wait_for_model(port, "llama3.2:latest")) << c.logs();
    auto results = run_concurrent_streams(
        port, "/api/generate",
        {generate_body("llama3.2", "boom [[error-mid]]", 10), generate_body("llama3.2", "cut [[close-mid]]", 10),
         generate_body("llama3.2", "dead [[error-before]]", 10)});
    for (const auto& r : results) {
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_FALSE(r.events.empty());
        EXPECT_EQ(r.events.back().event, "error") << r.body;
        auto e = json_of(r.events.back().data);
        EXPECT_EQ(e["code"], "upstream_error") << r.body;
        EXPECT_FALSE(e["message"].get<std::string>().empty());
    }
    auto first3 = [](const std::string& prompt) {
        auto t = providers::mock_tokens(prompt, 10);
        return t[0] + t[1] + t[2];
    };
    EXPECT_EQ(results[0].text(), first3("boom [[error-mid]]"));
    EXPECT_EQ(results[1].text(), first3("cut [[close-mid]]"));
    EXPECT_EQ(results[2].tokens, 0u);
    EXPECT_NE(results[2].events.back().data.find("llama runner process has terminated"), std::string::npos);
}

TEST(errors_e2e_ollama, ollama_going_down_gives_an_actionable_error_event) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    auto ollama = c.start_fake_ollama();
    auto port = c.start_api();
    c.start_worker({"--provider", "ollama", "--ollama-url", "http://127.0.0.1:" + std::to_string(ollama)});
    ASSERT_TRUE(c.wait_for_model(port, "llama3.2:latest")) << c.logs();
    // Stop the fake Ollama: the worker still announces the model (from its cache), so the
    // request reaches it and fails on connect.
    c.fake_ollama(ollama).stop();
    auto results = run_concurrent_streams(port, "/api/generate", {generate_body("llama3.2", "anyone there?", 5)});
    const auto& r = results[0];
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_FALSE(r.events.empty());
    EXPECT_EQ(r.events.back().event, "error");
    auto e = json_of(r.events.back().data);
    EXPECT_EQ(e["code"], "upstream_unavailable") << r.body;
    EXPECT_NE(e["message"].get<std::string>().find("127.0.0.1:" + std::to_string(ollama)), std::string::npos) << r.body;
}

TEST(errors_e2e_startup, unreachable_broker_is_a_clear_nonzero_exit) {
    // A port nothing listens on: bind one, note it, close it.
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    unsigned port = ntohs(a.sin_port);
    ::close(s);
    auto dir = test_output_dir();
    for (std::string sub : {"api", "worker"}) {
        child_process p{sub,
                        {LLMPROXY_BIN, sub, "--amqp-url", "amqp://guest:guest@127.0.0.1:" + std::to_string(port) + "/"},
                        {},
                        dir / (sub + ".log")};
        auto code = p.wait_exit(30s);
        ASSERT_TRUE(code.has_value()) << sub << " did not exit";
        EXPECT_EQ(*code, 1) << p.log();
        EXPECT_NE(p.log().find("cannot connect to RabbitMQ at 127.0.0.1:" + std::to_string(port)), std::string::npos)
            << p.log();
    }
}

TEST(errors_e2e_startup, a_deadline_beyond_the_maximum_is_refused_at_startup) {
    auto dir = test_output_dir();
    // Above 2^32-1 (RabbitMQ's limit for the expiration the deadline becomes), or a default
    // above the maximum: a clear exit before anything listens.
    for (const auto& [name, args] :
         {std::pair<std::string, std::vector<std::string>>{"max", {"--max-request-timeout-ms", "4294967296"}},
          {"default", {"--request-timeout-ms", "3600001"}}}) {
        std::vector<std::string> argv{LLMPROXY_BIN, "api", "--amqp-url", "amqp://guest:guest@127.0.0.1:1/"};
        argv.insert(argv.end(), args.begin(), args.end());
        child_process p{"api-" + name, argv, {}, dir / ("api-timeout-" + name + ".log")};
        auto code = p.wait_exit(30s);
        ASSERT_TRUE(code.has_value()) << name << " did not exit";
        EXPECT_NE(*code, 0) << p.log();
        EXPECT_NE(*code, 1) << "refused as configuration, before connecting: " << p.log();
        EXPECT_NE(p.log().find(name == "max" ? "--max-request-timeout-ms" : "exceeds --max-request-timeout-ms"),
                  std::string::npos)
            << p.log();
    }
}

}  // namespace
}  // namespace llmp::testing

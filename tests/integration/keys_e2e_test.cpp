// API keys end to end (issue 14, items 1 and 2): keys made and revoked with the `llmproxy keys`
// CLI against the test PostgreSQL, an API server started with `--auth keys`, and every front door
// (native, /v1, /ollama) answering 401 without a usable key, 403 for a model the key may not
// use, and 200 with it; a revoked key is refused within 2 s.

#include "e2e_common.hpp"
#include "e2e_database.hpp"
#include "support/child_process.hpp"

#include <regex>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using header_list = std::vector<std::pair<std::string, std::string>>;

header_list with_key(const std::string& key) {
    return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
}

std::string ollama_chat(const std::string& model) {
    return json{{"model", model},
                {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                {"stream", false},
                {"options", {{"num_predict", 2}}}}
        .dump();
}

std::string openai_chat(const std::string& model, bool stream) {
    return json{{"model", model},
                {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                {"stream", stream},
                {"max_tokens", 2}}
        .dump();
}

/// A 401 in each door's shape: native {"error":{"code"}}, OpenAI's error object, Ollama's {"error": text}.
void expect_refused(const http_reply& r, const std::string& door, unsigned status, const std::string& code) {
    EXPECT_EQ(r.status, status) << door << ": " << r.body;
    auto j = json_of(r.body);
    if (door == "openai") {
        EXPECT_EQ(j["error"]["code"], code) << r.body;
        EXPECT_EQ(j["error"]["type"], "invalid_request_error") << r.body;
        EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
    } else if (door == "ollama") {
        EXPECT_TRUE(j["error"].is_string()) << r.body;
    } else {
        EXPECT_EQ(j["error"]["code"], code) << r.body;
    }
}

TEST(keys_e2e, keys_gate_every_door_and_a_revoked_key_stops_within_2s) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto [migrated, mlog] = run_cli("migrate", {"migrate", "--database-url", db.url()});
    ASSERT_EQ(migrated, 0) << mlog;
    auto [created, clog] = run_cli("keys-create", {"keys", "create", "--name", "e2e", "--owner", "tests", "--models",
                                                   "mock*", "--database-url", db.url()});
    ASSERT_EQ(created, 0) << clog;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(clog, m, std::regex{"llmp_[A-Za-z0-9_-]{43}"})) << clog;
    const std::string key = m.str();
    EXPECT_EQ(db.count("SELECT count(*) FROM api_keys WHERE name = 'e2e' AND key_prefix = '" + key.substr(0, 12) + "'"),
              1);

    auto [listed, llog] = run_cli("keys-list", {"keys", "list", "--database-url", db.url()});
    ASSERT_EQ(listed, 0) << llog;
    EXPECT_NE(llog.find("e2e"), std::string::npos) << llog;
    EXPECT_NE(llog.find(key.substr(0, 12)), std::string::npos) << llog;
    EXPECT_EQ(llog.find(key), std::string::npos) << "list never shows the key";

    cluster c{amqp_url};
    auto port = c.start_api({"--auth", "keys", "--database-url", db.url()});
    c.start_worker({"--provider", "mock"});
    http_reply models;
    ASSERT_TRUE(wait_until(
        [&] {
            models = http_request(port, "GET", "/api/models", {}, with_key(key));
            return models.status == 200 && models.body.find("\"mock:latest\"") != std::string::npos;
        },
        30s))
        << models.status << " " << models.body << "\n"
        << c.logs();

    // Open: probes and Prometheus.
    EXPECT_EQ(http_get(port, "/healthz").status, 200u);
    EXPECT_NE(http_get(port, "/readyz").status, 401u);
    EXPECT_EQ(http_get(port, "/metrics").status, 200u);

    struct door {
        std::string name, target, body;
    };
    const std::vector<door> doors{
        {"native", "/api/chat", chat_body("mock", "hi", 2, true)},
        {"openai", "/v1/chat/completions", openai_chat("mock", true)},
        {"ollama", "/ollama/api/chat", ollama_chat("mock")},
    };
    for (const auto& d : doors) {
        auto none = http_post(port, d.target, d.body);
        expect_refused(none, d.name, 401, "invalid_api_key");
        EXPECT_EQ(none.headers["www-authenticate"], "Bearer") << d.name;
        auto wrong = http_request(port, "POST", d.target, d.body, with_key("llmp_" + std::string(43, 'x')));
        expect_refused(wrong, d.name, 401, "invalid_api_key");
        auto basic = http_request(port, "POST", d.target, d.body,
                                  {{"Content-Type", "application/json"}, {"Authorization", "Basic " + key}});
        expect_refused(basic, d.name, 401, "invalid_api_key");
    }
    expect_refused(http_get(port, "/api/models"), "native", 401, "invalid_api_key");
    expect_refused(http_get(port, "/v1/models"), "openai", 401, "invalid_api_key");
    expect_refused(http_get(port, "/ollama/api/tags"), "ollama", 401, "invalid_api_key");

    // With the key: native SSE, /v1 streamed and whole, /ollama, and the model lists.
    auto native = http_request(port, "POST", "/api/chat", chat_body("mock", "hello", 3, true), with_key(key));
    EXPECT_EQ(native.status, 200u) << native.body;
    EXPECT_NE(native.headers["content-type"].find("text/event-stream"), std::string::npos);
    EXPECT_NE(native.body.find("done"), std::string::npos) << native.body;
    auto v1 = http_request(port, "POST", "/v1/chat/completions", openai_chat("mock", true), with_key(key));
    EXPECT_EQ(v1.status, 200u) << v1.body;
    EXPECT_NE(v1.body.find("data: [DONE]"), std::string::npos) << v1.body;
    auto v1_whole = http_request(port, "POST", "/v1/chat/completions", openai_chat("mock", false), with_key(key));
    EXPECT_EQ(v1_whole.status, 200u) << v1_whole.body;
    EXPECT_EQ(json_of(v1_whole.body)["object"], "chat.completion") << v1_whole.body;
    auto ol = http_request(port, "POST", "/ollama/api/chat", ollama_chat("mock"), with_key(key));
    EXPECT_EQ(ol.status, 200u) << ol.body;
    EXPECT_EQ(json_of(ol.body)["done"], true) << ol.body;
    EXPECT_EQ(http_request(port, "GET", "/v1/models", {}, with_key(key)).status, 200u);
    EXPECT_EQ(http_request(port, "GET", "/ollama/api/tags", {}, with_key(key)).status, 200u);

    // A model outside "mock*": 403 at every door, before the model is even looked for.
    expect_refused(http_request(port, "POST", "/api/chat", chat_body("gpt-4o", "hi", 2, false), with_key(key)),
                   "native", 403, "model_not_allowed");
    expect_refused(http_request(port, "POST", "/v1/chat/completions", openai_chat("gpt-4o", false), with_key(key)),
                   "openai", 403, "model_not_allowed");
    expect_refused(http_request(port, "POST", "/ollama/api/chat", ollama_chat("gpt-4o"), with_key(key)), "ollama", 403,
                   "model_not_allowed");

    // Revoked: refused within 2 s (the API reloads its keys every second).
    auto [revoked, rlog] = run_cli("keys-revoke", {"keys", "revoke", "e2e", "--database-url", db.url()});
    ASSERT_EQ(revoked, 0) << rlog;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until(
        [&] {
            return http_request(port, "POST", "/v1/chat/completions", openai_chat("mock", false), with_key(key))
                       .status == 401;
        },
        5s))
        << c.logs();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    expect_refused(http_request(port, "POST", "/api/chat", chat_body("mock", "hi", 2, false), with_key(key)), "native",
                   401, "invalid_api_key");

    // No key, hash or prefix in any log.
    auto logs = c.logs();
    EXPECT_EQ(logs.find(key.substr(5)), std::string::npos);
    EXPECT_EQ(logs.find(key.substr(0, 12)), std::string::npos);
    c.apis().front()->stop();
    c.workers().front()->stop();
}

TEST(keys_e2e, auth_keys_without_a_reachable_database_is_a_clear_startup_failure) {
    LLMP_REQUIRE_BROKER();
    cluster c{amqp_url};
    child_process p{"api",
                    {LLMPROXY_BIN, "api", "--port", "0", "--amqp-url", amqp_url, "--amqp-prefix", c.prefix(), "--auth",
                     "keys", "--database-url", "postgresql://nobody@127.0.0.1:1/none"},
                    {},
                    test_output_dir() / "api.log"};
    auto code = p.wait_exit(30s);
    ASSERT_TRUE(code.has_value()) << p.log();
    EXPECT_EQ(*code, 1) << p.log();
    EXPECT_NE(p.log().find("cannot load the API keys"), std::string::npos) << p.log();
}

}  // namespace
}  // namespace llmp::testing

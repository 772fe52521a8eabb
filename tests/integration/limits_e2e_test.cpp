// Per-key limits end to end (issue 14 item 3): keys with limits made and changed with the
// `llmproxy keys` CLI against the test PostgreSQL, two API servers started with --auth keys and
// the suite's Redis (LLMPROXY_TEST_REDIS_URL, started by scripts/test), and the mock worker:
// a 60 RPM key gets 60 between both servers, a stream cap holds across them, a spent token
// budget is 429 until lifted, the x-ratelimit-* headers and the 429 at each door; and a Redis of
// the test's own killed mid-run leaves the API serving on local limits, saying so in /readyz,
// /metrics and once in the log, until it is back.

#include "common/clock.hpp"
#include "e2e_common.hpp"
#include "e2e_database.hpp"
#include "support/child_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <sstream>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using header_list = std::vector<std::pair<std::string, std::string>>;

#define LLMP_REQUIRE_REDIS()                                                         \
    const char* redis_env = std::getenv("LLMPROXY_TEST_REDIS_URL");                  \
    if (redis_env == nullptr) {                                                      \
        GTEST_SKIP() << "LLMPROXY_TEST_REDIS_URL is not set (scripts/test sets it)"; \
    }                                                                                \
    const std::string redis_url = redis_env

header_list with_key(const std::string& key) {
    return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
}

/// Migrates `db` and creates a key named `name` with `flags`; returns the key.
std::string make_key(pg::testing::scratch_database& db, const std::string& name, std::vector<std::string> flags) {
    auto [migrated, mlog] = run_cli("migrate", {"migrate", "--database-url", db.url()});
    EXPECT_EQ(migrated, 0) << mlog;
    std::vector<std::string> args{"keys", "create", "--name", name, "--database-url", db.url()};
    args.insert(args.end(), flags.begin(), flags.end());
    auto [created, clog] = run_cli("keys-create-" + name, args);
    EXPECT_EQ(created, 0) << clog;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(clog, m, std::regex{"llmp_[A-Za-z0-9_-]{43}"})) << clog;
    return m.str();
}

std::string openai_chat(bool stream, int tokens = 1) {
    return json{{"model", "mock"},
                {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                {"stream", stream},
                {"max_tokens", tokens}}
        .dump();
}

std::string ollama_chat() {
    return json{{"model", "mock"},
                {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                {"stream", false},
                {"options", {{"num_predict", 1}}}}
        .dump();
}

/// A native request that streams `tokens` tokens `delay_ms` apart.
std::string slow_chat(int tokens, int delay_ms) {
    return json{{"model", "mock"},
                {"messages", json::array({{{"role", "user"}, {"content", "slow"}}})},
                {"stream", true},
                {"options", {{"num_predict", tokens}, {"mock_token_delay_ms", delay_ms}}}}
        .dump();
}

void wait_for_mock(unsigned port, const std::string& key, cluster& c) {
    http_reply models;
    ASSERT_TRUE(wait_until(
        [&] {
            models = http_request(port, "GET", "/api/models", {}, with_key(key));
            return models.status == 200 && models.body.find("\"mock:latest\"") != std::string::npos;
        },
        30s))
        << models.status << " " << models.body << "\n"
        << c.logs();
}

/// A 429 in each door's shape with the limit's headers.
void expect_limited(const http_reply& r, const std::string& door) {
    EXPECT_EQ(r.status, 429u) << door << ": " << r.body;
    auto j = json_of(r.body);
    if (door == "openai") {
        EXPECT_EQ(j["error"]["code"], "rate_limit_exceeded") << r.body;
        EXPECT_EQ(j["error"]["type"], "requests") << r.body;
    } else if (door == "ollama") {
        EXPECT_TRUE(j["error"].is_string()) << r.body;
    } else {
        EXPECT_EQ(j["error"]["code"], "rate_limit_exceeded") << r.body;
    }
    ASSERT_TRUE(r.headers.count("retry-after")) << door;
    EXPECT_GE(std::stoi(r.headers.at("retry-after")), 1) << door;
}

/// The number a Prometheus line `name value` gives, or -1.
double metric(unsigned port, const std::string& name) {
    auto body = http_get(port, "/metrics").body;
    std::smatch m;
    if (std::regex_search(body, m, std::regex{"\n" + name + " ([0-9.e+-]+)"})) {
        return std::stod(m[1].str());
    }
    return -1;
}

/// A program on PATH (child_process does not search it).
std::optional<std::string> find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs{path != nullptr ? path : ""};
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        auto candidate = std::filesystem::path{dir.empty() ? "." : dir} / name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
    }
    return std::nullopt;
}

unsigned free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

TEST(limits_e2e, keys_show_and_update_change_a_keys_limits) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    make_key(db, "limited",
             {"--rpm", "5", "--tpm", "1000", "--max-streams", "2", "--daily-tokens", "10", "--monthly-tokens", "100",
              "--priority-ceiling", "3"});
    auto [shown, slog] = run_cli("keys-show", {"keys", "show", "limited", "--database-url", db.url()});
    ASSERT_EQ(shown, 0) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"requests/minute: +5\n"})) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"tokens/minute: +1000\n"})) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"max streams: +2\n"})) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"tokens/day: +10\n"})) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"tokens/month: +100\n"})) << slog;
    EXPECT_TRUE(std::regex_search(slog, std::regex{"priority ceiling: +3\n"})) << slog;

    auto [updated, ulog] = run_cli("keys-update", {"keys", "update", "limited", "--rpm", "7", "--clear",
                                                   "tpm,daily-tokens", "--owner", "ops", "--database-url", db.url()});
    ASSERT_EQ(updated, 0) << ulog;
    EXPECT_TRUE(std::regex_search(ulog, std::regex{"requests/minute: +7\n"})) << ulog;
    EXPECT_TRUE(std::regex_search(ulog, std::regex{"tokens/minute: +unlimited\n"})) << ulog;
    EXPECT_TRUE(std::regex_search(ulog, std::regex{"tokens/day: +unlimited\n"})) << ulog;
    EXPECT_TRUE(std::regex_search(ulog, std::regex{"max streams: +2\n"})) << ulog;  // untouched
    EXPECT_TRUE(std::regex_search(ulog, std::regex{"owner: +ops\n"})) << ulog;
    EXPECT_EQ(db.count("SELECT count(*) FROM api_keys WHERE rpm_limit = 7 AND tpm_limit IS NULL"), 1);

    auto [contradiction, clog] = run_cli(
        "keys-update-bad", {"keys", "update", "limited", "--rpm", "1", "--clear", "rpm", "--database-url", db.url()});
    EXPECT_EQ(contradiction, 2) << clog;
    auto [unknown, nlog] =
        run_cli("keys-update-none", {"keys", "update", "nobody", "--rpm", "1", "--database-url", db.url()});
    EXPECT_EQ(unknown, 1) << nlog;
    EXPECT_NE(nlog.find("no usable key named 'nobody'"), std::string::npos) << nlog;
    auto [missing, mlog] = run_cli("keys-show-none", {"keys", "show", "nobody", "--database-url", db.url()});
    EXPECT_EQ(missing, 1) << mlog;
}

TEST(limits_e2e, a_60_rpm_key_gets_60_requests_a_minute_across_two_api_servers) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    LLMP_REQUIRE_REDIS();
    pg::testing::scratch_database db{db_url};
    const auto key = make_key(db, "sixty", {"--rpm", "60"});
    cluster c{amqp_url};
    const std::vector<std::string> api_args{"--auth", "keys", "--database-url", db.url(), "--redis-url", redis_url};
    const unsigned ports[2] = {c.start_api(api_args), c.start_api(api_args)};
    c.start_worker({"--provider", "mock"});
    wait_for_mock(ports[0], key, c);
    wait_for_mock(ports[1], key, c);

    // The burst must fall in one minute window (fixed windows on the Unix minute): start it with
    // at least 30 s of the minute left.
    const auto into_minute = unix_ms() % 60'000;
    if (into_minute > 30'000) {
        std::this_thread::sleep_for(std::chrono::milliseconds{60'000 - into_minute + 50});
    }
    const auto burst_minute = unix_ms() / 60'000;

    // The first request, streamed: the headers come with the stream.
    auto first = http_request(ports[0], "POST", "/v1/chat/completions", openai_chat(true), with_key(key));
    ASSERT_EQ(first.status, 200u) << first.body;
    EXPECT_EQ(first.headers["x-ratelimit-limit-requests"], "60");
    EXPECT_EQ(first.headers["x-ratelimit-remaining-requests"], "59");
    EXPECT_TRUE(
        std::regex_match(first.headers["x-ratelimit-reset-requests"], std::regex{"[0-9]+(\\.[0-9]+)?s|[0-9]+ms"}))
        << first.headers["x-ratelimit-reset-requests"];
    EXPECT_EQ(first.headers.count("x-ratelimit-limit-tokens"), 0u) << "no tokens-per-minute limit on this key";

    // 99 more from a round-robin client of 4 threads.
    std::atomic<int> ok{1};
    std::atomic<int> limited{0};
    std::atomic<int> other{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
            for (int i = t; i < 99; i += 4) {
                auto r =
                    http_request(ports[i % 2], "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key));
                ++(r.status == 200 ? ok : r.status == 429 ? limited : other);
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    ASSERT_EQ(unix_ms() / 60'000, burst_minute) << "the burst outlived its minute: the machine is too slow";
    EXPECT_EQ(other.load(), 0);
    EXPECT_GE(ok.load(), 57) << "60 ± 5 %";
    EXPECT_LE(ok.load(), 63) << "60 ± 5 %: not 60 per server";
    EXPECT_EQ(ok.load() + limited.load(), 100);

    // Past the limit, at every door: 429 in its shape, Retry-After, remaining 0.
    auto v1 = http_request(ports[1], "POST", "/v1/chat/completions", openai_chat(false), with_key(key));
    expect_limited(v1, "openai");
    EXPECT_EQ(v1.headers["x-ratelimit-remaining-requests"], "0");
    EXPECT_LE(std::stoi(v1.headers["retry-after"]), 60);
    expect_limited(http_request(ports[0], "POST", "/ollama/api/chat", ollama_chat(), with_key(key)), "ollama");
    expect_limited(http_request(ports[1], "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key)),
                   "native");
    EXPECT_GE(metric(ports[0], "llmproxy_limit_store_up"), 1);
    c.apis()[0]->stop();
    c.apis()[1]->stop();
}

TEST(limits_e2e, a_stream_cap_holds_across_servers_and_frees_when_a_stream_ends) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    LLMP_REQUIRE_REDIS();
    pg::testing::scratch_database db{db_url};
    const auto key = make_key(db, "two-at-once", {"--max-streams", "2"});
    cluster c{amqp_url};
    const std::vector<std::string> api_args{"--auth", "keys", "--database-url", db.url(), "--redis-url", redis_url};
    const unsigned ports[2] = {c.start_api(api_args), c.start_api(api_args)};
    c.start_worker({"--provider", "mock", "--concurrency", "8"});
    wait_for_mock(ports[0], key, c);
    wait_for_mock(ports[1], key, c);

    std::vector<std::thread> slow;
    std::atomic<int> slow_ok{0};
    for (int i = 0; i < 2; ++i) {
        slow.emplace_back([&] {
            auto r = http_request(ports[0], "POST", "/api/chat", slow_chat(20, 100), with_key(key));
            slow_ok += r.status == 200 ? 1 : 0;
        });
    }
    EXPECT_TRUE(wait_until([&] { return metric(ports[0], "llmproxy_streams_in_flight") >= 2; }, 10s)) << c.logs();
    auto third = http_request(ports[1], "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key));
    expect_limited(third, "native");
    EXPECT_EQ(third.headers["retry-after"], "1");
    EXPECT_NE(json_of(third.body)["error"]["message"].get<std::string>().find("2 requests at once"), std::string::npos)
        << third.body;
    // And on the server that holds both slots (it refuses without asking Redis).
    expect_limited(http_request(ports[0], "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key)),
                   "native");
    for (auto& t : slow) {
        t.join();
    }
    EXPECT_EQ(slow_ok.load(), 2);
    // Both ended: a slot is free on either server (the release reaches Redis asynchronously).
    EXPECT_TRUE(wait_until(
        [&] {
            return http_request(ports[1], "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key))
                       .status == 200;
        },
        5s));
    c.apis()[0]->stop();
    c.apis()[1]->stop();
}

TEST(limits_e2e, a_spent_daily_token_budget_is_429_until_the_limit_is_lifted) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    LLMP_REQUIRE_REDIS();
    pg::testing::scratch_database db{db_url};
    const auto key = make_key(db, "budget", {"--daily-tokens", "20", "--tpm", "100000"});
    cluster c{amqp_url};
    auto port = c.start_api({"--auth", "keys", "--database-url", db.url(), "--redis-url", redis_url});
    c.start_worker({"--provider", "mock"});
    wait_for_mock(port, key, c);

    // 8 completion tokens (and the prompt's) a request: the budget is spent after two or three.
    int ok = 0;
    http_reply r;
    ASSERT_TRUE(wait_until(
        [&] {
            r = http_request(port, "POST", "/v1/chat/completions", openai_chat(false, 8), with_key(key));
            ok += r.status == 200 ? 1 : 0;
            return r.status == 429;
        },
        20s))
        << r.status << " " << r.body;
    EXPECT_GE(ok, 2);
    EXPECT_LE(ok, 3);
    expect_limited(r, "openai");
    EXPECT_NE(json_of(r.body)["error"]["message"].get<std::string>().find("tokens of today"), std::string::npos)
        << r.body;
    // Retry-After: until the UTC day ends.
    EXPECT_NEAR(static_cast<double>(std::stoll(r.headers["retry-after"])),
                static_cast<double>((86'400'000 - unix_ms() % 86'400'000 + 999) / 1000), 2.0);
    EXPECT_EQ(r.headers["x-ratelimit-limit-tokens"], "100000");
    EXPECT_LT(std::stoll(r.headers["x-ratelimit-remaining-tokens"]), 100000 - 16);

    auto [updated, ulog] =
        run_cli("keys-update", {"keys", "update", "budget", "--clear", "daily-tokens", "--database-url", db.url()});
    ASSERT_EQ(updated, 0) << ulog;
    EXPECT_TRUE(wait_until(
        [&] {
            return http_request(port, "POST", "/v1/chat/completions", openai_chat(false, 8), with_key(key)).status ==
                   200;
        },
        5s));
    c.apis()[0]->stop();
}

TEST(limits_e2e, redis_killed_mid_run_the_api_serves_on_local_limits_and_comes_back) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    const auto key = make_key(db, "steady", {"--rpm", "100000"});
    // A Redis of this test's own: killing the suite's would pull it from under the other tests.
    const auto redis_port = std::to_string(free_port());
    auto redis_server = find_program("redis-server");
    ASSERT_TRUE(redis_server)
        << "redis-server not on PATH: install the Debian package redis-server (scripts/test does)";
    const std::vector<std::string> redis_argv{*redis_server, "--port", redis_port,     "--bind", "127.0.0.1",
                                              "--save",      "",       "--appendonly", "no"};
    const auto out = test_output_dir();  // for both Redis processes
    auto redis = std::make_unique<child_process>("redis", redis_argv, std::vector<std::string>{}, out / "redis.log");
    ASSERT_TRUE(redis->wait_for_log("Ready to accept connections", 10s)) << redis->log();
    cluster c{amqp_url};
    auto port =
        c.start_api({"--auth", "keys", "--database-url", db.url(), "--redis-url", "redis://127.0.0.1:" + redis_port});
    c.start_worker({"--provider", "mock"});
    wait_for_mock(port, key, c);
    auto limits_store = [&] { return json_of(http_get(port, "/readyz").body)["limits"]; };
    EXPECT_EQ(limits_store()["store"], "redis");
    EXPECT_EQ(http_request(port, "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key)).status, 200u);
    EXPECT_EQ(metric(port, "llmproxy_limit_store_up"), 1);

    redis->signal(SIGKILL);
    redis->wait_exit(10s);
    // Requests keep flowing the whole time; /readyz stays 200 and says the limits went local.
    int served = 0;
    ASSERT_TRUE(wait_until(
        [&] {
            auto r = http_request(port, "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key));
            EXPECT_EQ(r.status, 200u) << r.body;
            ++served;
            auto ready = http_get(port, "/readyz");
            EXPECT_EQ(ready.status, 200u) << ready.body;
            return json_of(ready.body)["limits"]["redis"] == "unreachable";
        },
        10s))
        << c.logs();
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(http_request(port, "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key)).status,
                  200u);
    }
    EXPECT_EQ(limits_store()["store"], "local");
    EXPECT_EQ(metric(port, "llmproxy_limit_store_up"), 0);
    EXPECT_GT(metric(port, "llmproxy_limit_admissions_total\\{store=\"local\"\\}"), 0);

    redis = std::make_unique<child_process>("redis2", redis_argv, std::vector<std::string>{}, out / "redis2.log");
    ASSERT_TRUE(redis->wait_for_log("Ready to accept connections", 10s)) << redis->log();
    EXPECT_TRUE(wait_until([&] { return limits_store()["store"] == "redis"; }, 10s)) << c.logs();
    EXPECT_EQ(http_request(port, "POST", "/api/chat", chat_body("mock", "hi", 1, false), with_key(key)).status, 200u);
    EXPECT_EQ(metric(port, "llmproxy_limit_store_up"), 1);

    // Said once each way, however many requests went by meanwhile.
    auto log = c.apis()[0]->log();
    auto count = [&](const std::string& needle) {
        std::size_t n = 0;
        for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
            ++n;
        }
        return n;
    };
    EXPECT_EQ(count("redis unreachable"), 1u) << log;
    EXPECT_EQ(count("redis reachable again"), 1u) << log;
    c.apis()[0]->stop();
    redis->stop();
}

}  // namespace
}  // namespace llmp::testing

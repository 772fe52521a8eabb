// Prometheus /metrics end to end (issue 4): api + worker + audit (+ monitor) as real processes,
// a known traffic mix, then every /metrics output is checked for the numbers a user would look
// at, passed through `promtool check metrics`, and scraped by a real Prometheus server.

#include "e2e_common.hpp"
#include "e2e_database.hpp"

#include "common/version.hpp"
#include "pg/testing/scratch_database.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using pg::testing::scratch_database;

/// A program on PATH (the Debian prometheus package puts promtool and prometheus in /usr/bin).
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

/// Series -> value of a text-format exposition ("name{labels}" exactly as rendered).
using samples = std::map<std::string, double>;

samples parse_samples(const std::string& text) {
    samples out;
    std::istringstream in{text};
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto sp = line.rfind(' ');
        out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    }
    return out;
}

double value(const samples& s, const std::string& series) {
    auto it = s.find(series);
    return it == s.end() ? 0 : it->second;
}

samples scrape(unsigned port, std::string* raw = nullptr) {
    auto r = http_get(port, "/metrics");
    EXPECT_EQ(r.status, 200u) << r.error;
    EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    if (raw != nullptr) {
        *raw = r.body;
    }
    return parse_samples(r.body);
}

struct command_result {
    int exit_code = -1;
    std::string output;
};

/// `promtool check metrics` on `text` (stdin); its complaints (lint included) go to the output.
command_result promtool_check(const std::string& promtool, const std::string& text, const std::filesystem::path& dir,
                              const std::string& name) {
    auto file = dir / (name + ".metrics.txt");
    std::ofstream{file} << text;
    std::string cmd = "'" + promtool + "' check metrics < '" + file.string() + "' 2>&1";
    command_result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
        return r;
    }
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        r.output.append(buf, n);
    }
    int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

/// Checks one process's /metrics with promtool, and the basics every process exports.
void expect_valid_exposition(const std::string& promtool, unsigned port, const std::filesystem::path& dir,
                             const std::string& name) {
    std::string raw;
    auto s = scrape(port, &raw);
    auto r = promtool_check(promtool, raw, dir, name);
    EXPECT_EQ(r.exit_code, 0) << name << ": promtool check metrics failed:\n" << r.output;
    EXPECT_EQ(r.output, "") << name << ": promtool complaints:\n" << r.output;
    for (const char* m : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                          "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
        EXPECT_TRUE(s.count(m)) << name << " lacks " << m;
    }
    EXPECT_GT(value(s, "process_resident_memory_bytes"), 0) << name;
    EXPECT_EQ(value(s, "llmproxy_build_info{version=\"" + std::string{llmproxy_version()} + "\"}"), 1) << name << ":\n"
                                                                                                       << raw;
}

std::string series(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels) {
    std::string out = name + "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
        out += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
    }
    return out + "}";
}

bool has_monitor() {
    // The monitor subcommand is another part of issue 4; include it once it exists. (CLI11
    // answers --help of an unknown subcommand with the top-level help, so look for its usage.)
    std::string cmd = std::string{"'"} + LLMPROXY_BIN + "' monitor --help 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
        return false;
    }
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        out.append(buf, n);
    }
    return ::pclose(p) == 0 && out.find("llmproxy monitor") != std::string::npos;
}

TEST(metrics_e2e, every_process_counts_what_clients_did_and_promtool_accepts_it) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    auto promtool = find_program("promtool");
    ASSERT_TRUE(promtool) << "promtool not on PATH: install the Debian package prometheus (scripts/test does)";
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto api = c.start_api();
    auto& worker = c.start_worker({"--mock-token-delay-us", "0"});
    auto& audit = c.start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(c.wait_for_model(api, "mock:latest")) << c.logs();
    const unsigned worker_port = c.metrics_port(worker);
    const unsigned audit_port = c.metrics_port(audit);

    const auto before = scrape(api);
    auto api_count = [&](const samples& s, const std::string& route, const std::string& status) {
        auto key = series("llmproxy_http_requests_total", {{"route", route}, {"status", status}});
        return value(s, key) - value(before, key);
    };
    auto api_delta = [&](const samples& s, const std::string& key) { return value(s, key) - value(before, key); };

    // The traffic: 7 answers (37 tokens), 3 worker failures (3 tokens before one of them), 1
    // unknown model, 1 unknown path, 1 wrong method, 1 worker list.
    std::vector<std::string> bodies;
    for (int i = 0; i < 4; ++i) {
        bodies.push_back(chat_body("mock", "stream " + std::to_string(i), 5));
    }
    bodies.push_back(chat_body("mock", "please [[mock:fail-after=3]]", 10));
    bodies.push_back(chat_body("mock", "[[mock:fail]] now", 10));
    auto chats = run_concurrent_streams(api, "/api/chat", bodies);
    auto gens = run_concurrent_streams(api, "/api/generate",
                                       {generate_body("mock", "gen a", 4), generate_body("mock", "gen b", 4)});
    std::int64_t client_tokens = 0;
    int answered = 0;
    for (const auto* results : {&chats, &gens}) {
        for (const auto& r : *results) {
            ASSERT_EQ(r.status, 200u) << r.error << r.body;
            if (const auto* d = r.find("done")) {
                ++answered;
                client_tokens += json_of(d->data)["completion_tokens"].get<std::int64_t>();
            }
        }
    }
    ASSERT_EQ(answered, 6) << c.logs();
    EXPECT_EQ(chats[4].text(), [] {
        auto t = providers::mock_tokens("please [[mock:fail-after=3]]", 10);
        return t[0] + t[1] + t[2];
    }());
    client_tokens += 3;  // the stream that failed after 3 tokens
    auto plain = http_post(api, "/api/chat", chat_body("mock", "not streamed", 6, false));
    ASSERT_EQ(plain.status, 200u) << plain.body;
    client_tokens += json_of(plain.body)["completion_tokens"].get<std::int64_t>();
    EXPECT_EQ(client_tokens, 37);
    EXPECT_EQ(http_post(api, "/api/chat", chat_body("mock", "[[mock:fail]]", 3, false)).status, 502u);
    EXPECT_EQ(http_post(api, "/api/chat", chat_body("no-such-model", "hi", 3)).status, 404u);
    EXPECT_EQ(http_get(api, "/no/such/path").status, 404u);
    EXPECT_EQ(http_post(api, "/api/models", "{}").status, 405u);
    EXPECT_EQ(http_get(api, "/api/workers").status, 200u);

    // API: what the clients did, by route and status, and how the generations ended. A request
    // is counted once its response is written, which may be just after the client has read it
    // (and each request above ran on its own connection, so they may be counted in any order):
    // wait (with a deadline) until every one shows.
    samples a;
    ASSERT_TRUE(wait_until(
        [&] {
            a = scrape(api);
            return value(a, "llmproxy_streams_in_flight") == 0 && api_count(a, "/api/workers", "200") == 1 &&
                   api_count(a, "/api/chat", "200") >= 7 && api_count(a, "/api/chat", "502") >= 1 &&
                   api_count(a, "/api/chat", "404") >= 1 && api_count(a, "/api/generate", "200") >= 2 &&
                   api_count(a, "unmatched", "404") >= 1 && api_count(a, "unmatched", "405") >= 1;
        },
        10s))
        << "streams in flight: " << value(a, "llmproxy_streams_in_flight")
        << ", GET /api/workers counted: " << api_count(a, "/api/workers", "200")
        << ", unmatched 405 counted: " << api_count(a, "unmatched", "405");
    EXPECT_EQ(api_count(a, "/api/chat", "200"), 7);
    EXPECT_EQ(api_count(a, "/api/chat", "502"), 1);
    EXPECT_EQ(api_count(a, "/api/chat", "404"), 1);
    EXPECT_EQ(api_count(a, "/api/generate", "200"), 2);
    EXPECT_EQ(api_count(a, "unmatched", "404"), 1);
    EXPECT_EQ(api_count(a, "unmatched", "405"), 1);
    EXPECT_EQ(api_delta(a, series("llmproxy_request_duration_seconds_count", {{"route", "/api/chat"}})), 9);
    EXPECT_EQ(api_delta(a, series("llmproxy_request_duration_seconds_count", {{"route", "/api/generate"}})), 2);
    // A first token reached the client in 5 streamed chats (4 + the one failing after 3), the
    // non-streamed answer and both generates.
    EXPECT_EQ(api_delta(a, series("llmproxy_time_to_first_token_seconds_count", {{"route", "/api/chat"}})), 6);
    EXPECT_EQ(api_delta(a, series("llmproxy_time_to_first_token_seconds_count", {{"route", "/api/generate"}})), 2);
    EXPECT_EQ(
        api_delta(a, series("llmproxy_time_to_first_token_seconds_bucket", {{"route", "/api/chat"}, {"le", "+Inf"}})),
        6);
    EXPECT_EQ(api_delta(a, "llmproxy_tokens_relayed_total"), 37);
    EXPECT_EQ(api_delta(a, series("llmproxy_generations_total", {{"outcome", "completed"}})), 7);
    EXPECT_EQ(api_delta(a, series("llmproxy_generations_total", {{"outcome", "worker_error"}})), 3);
    EXPECT_EQ(api_delta(a, series("llmproxy_generations_total", {{"outcome", "rejected"}})), 1);
    EXPECT_EQ(api_delta(a, series("llmproxy_publish_failures_total", {{"reason", "queue_full"}})), 0);
    EXPECT_EQ(value(a, "llmproxy_broker_connected"), 1);

    // Worker: the same generations from its side.
    samples w;
    ASSERT_TRUE(wait_until(
        [&] {
            w = scrape(worker_port);
            return value(w, "llmproxy_worker_generations_in_flight") == 0;
        },
        10s));
    const std::string model = "mock:latest";
    EXPECT_EQ(value(w, series("llmproxy_worker_generations_total", {{"model", model}, {"outcome", "completed"}})), 7);
    EXPECT_EQ(value(w, series("llmproxy_worker_generations_total", {{"model", model}, {"outcome", "error"}})), 3);
    EXPECT_EQ(value(w, series("llmproxy_worker_tokens_generated_total", {{"model", model}})), 37);
    EXPECT_EQ(value(w, series("llmproxy_worker_generation_duration_seconds_count", {{"model", model}})), 7);
    EXPECT_EQ(value(w, series("llmproxy_worker_time_to_first_token_seconds_count", {{"model", model}})), 8);

    // Audit: every queued request (10) and its response stored, with a batch and lag per row.
    samples u;
    const auto requests_key = series("llmproxy_audit_rows_stored_total", {{"table", "requests"}});
    const auto responses_key = series("llmproxy_audit_rows_stored_total", {{"table", "responses"}});
    EXPECT_TRUE(wait_until(
        [&] {
            u = scrape(audit_port);
            return value(u, requests_key) >= 10 && value(u, responses_key) >= 10;
        },
        20s))
        << "audit stored " << value(u, requests_key) << " requests, " << value(u, responses_key) << " responses";
    EXPECT_EQ(value(u, requests_key), 10);
    EXPECT_EQ(value(u, responses_key), 10);
    EXPECT_EQ(value(u, "llmproxy_audit_database_up"), 1);
    EXPECT_EQ(value(u, "llmproxy_audit_lag_seconds_count"), 20);
    EXPECT_GE(value(u, "llmproxy_audit_batch_rows_count"), 1);
    EXPECT_EQ(value(u, "llmproxy_audit_dead_letters_total"), 0);

    // Every exposition is valid and lint-clean.
    expect_valid_exposition(*promtool, api, c.dir(), "api");
    expect_valid_exposition(*promtool, worker_port, c.dir(), "worker");
    expect_valid_exposition(*promtool, audit_port, c.dir(), "audit");
    if (has_monitor()) {
        auto monitor = c.start_monitor(db.url());
        expect_valid_exposition(*promtool, monitor, c.dir(), "monitor");
    }
}

/// A port nobody listens on now (for a program without --port-file; the test retries if taken).
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

TEST(metrics_e2e, a_real_prometheus_scrapes_every_process_with_every_target_up) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    auto prometheus = find_program("prometheus");
    ASSERT_TRUE(prometheus) << "prometheus not on PATH: install the Debian package prometheus (scripts/test does)";
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto api = c.start_api();
    auto& worker = c.start_worker({"--mock-token-delay-us", "0"});
    auto& audit = c.start_audit(db.url());
    ASSERT_TRUE(c.wait_for_model(api, "mock:latest")) << c.logs();
    std::vector<std::pair<std::string, unsigned>> targets{
        {"api", api}, {"worker", c.metrics_port(worker)}, {"audit", c.metrics_port(audit)}};
    if (has_monitor()) {
        targets.emplace_back("monitor", c.start_monitor(db.url()));
    }
    ASSERT_EQ(http_post(api, "/api/chat", chat_body("mock", "for prometheus", 3, false)).status, 200u);

    auto config = c.dir() / "prometheus.yml";
    {
        std::ofstream out{config};
        out << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n";
        for (const auto& [job, port] : targets) {
            out << "  - job_name: " << job << "\n    static_configs:\n      - targets: ['127.0.0.1:" << port << "']\n";
        }
    }
    std::unique_ptr<child_process> prom;
    unsigned prom_port = 0;
    for (int attempt = 0; attempt < 3 && !prom; ++attempt) {
        prom_port = free_port();
        auto data = c.dir() / ("prometheus-data-" + std::to_string(attempt));
        auto p = std::make_unique<child_process>(
            "prometheus",
            std::vector<std::string>{*prometheus, "--config.file=" + config.string(),
                                     "--storage.tsdb.path=" + data.string(),
                                     "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
            std::vector<std::string>{}, c.dir() / ("prometheus-" + std::to_string(attempt) + ".log"));
        bool ready = wait_until([&] { return !p->running() || http_get(prom_port, "/-/ready").status == 200; }, 60s);
        if (ready && p->running()) {
            prom = std::move(p);
        } else {
            p->stop(5s);  // the port was taken meanwhile, or it failed: try another port
        }
    }
    ASSERT_TRUE(prom) << "prometheus did not start";

    // Every target healthy ("up") within the deadline.
    nlohmann::json active;
    bool all_up = wait_until(
        [&] {
            auto r = http_get(prom_port, "/api/v1/targets");
            auto j = json_of(r.body);
            if (r.status != 200 || !j.is_object()) {
                return false;
            }
            active = j["data"]["activeTargets"];
            if (!active.is_array() || active.size() != targets.size()) {
                return false;
            }
            for (const auto& t : active) {
                if (t["health"] != "up") {
                    return false;
                }
            }
            return true;
        },
        60s);
    EXPECT_TRUE(all_up) << "targets: " << active.dump(2) << "\nprometheus log:\n" << prom->log();

    // And the data is there: llmproxy_build_info from every job, and the request counted.
    nlohmann::json result;
    EXPECT_TRUE(wait_until(
        [&] {
            auto r = http_get(prom_port, "/api/v1/query?query=llmproxy_build_info");
            auto j = json_of(r.body);
            if (r.status != 200 || !j.is_object() || j["status"] != "success") {
                return false;
            }
            result = j["data"]["result"];
            return result.is_array() && result.size() == targets.size();
        },
        30s))
        << result.dump(2);
    std::set<std::string> jobs;
    for (const auto& s : result) {
        jobs.insert(s["metric"]["job"].get<std::string>());
        EXPECT_EQ(s["value"][1], "1");
    }
    EXPECT_EQ(jobs.size(), targets.size());
    EXPECT_TRUE(wait_until(
        [&] {
            auto r =
                http_get(prom_port, "/api/v1/query?query=llmproxy_generations_total%7Boutcome%3D%22completed%22%7D");
            auto j = json_of(r.body);
            return j.is_object() && j["data"]["result"].is_array() && j["data"]["result"].size() == 1 &&
                   j["data"]["result"][0]["value"][1] == "1";
        },
        30s));

    EXPECT_EQ(prom->stop(20s), 0) << prom->log();
}

}  // namespace
}  // namespace llmp::testing

// The monitor end to end: api + mock workers + audit + monitor processes against the real
// RabbitMQ and a scratch PostgreSQL database. A known traffic mix goes through the API; the
// monitor's REST answers must match what the clients saw, and the dashboard (headless Chromium
// driven by web/tests/dashboard.test.mjs) must show it.

#include "e2e_common.hpp"
#include "e2e_database.hpp"

#include "broker/topology.hpp"
#include "common/messages.hpp"
#include "keys/key_store.hpp"
#include "pg/connection.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/scratch_database.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unistd.h>

namespace llmp::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using pg::testing::scratch_database;

struct api_answer {
    unsigned status = 0;
    json body;
    std::string raw;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

api_answer get(unsigned port, const std::string& target, const header_list& headers = {}) {
    auto r = http_request(port, "GET", target, {}, headers);
    return {r.status, json::parse(r.body, nullptr, false), r.body};
}

std::string url_encode(const std::string& s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// The traffic mix: model alpha answers chats with 4 tokens, beta generates 16 tokens, and some
// alpha chats fail on purpose ([[mock:fail]] fails before the first token). Every mock token
// waits `token_delay_ms`, so a generation takes at least tokens x delay.
constexpr int token_delay_ms = 3;
constexpr int alpha_tokens = 4;
constexpr int beta_tokens = 16;

struct sent {
    std::string model;  ///< as the client named it
    std::string prompt;
    bool fails = false;
    bool chat = true;
    stream_result result;
    std::string request_id;
    std::string worker_id;
    std::int64_t completion_tokens = 0;
    double api_total_ms = 0;  ///< total_ms of the done event (measured at the API)
};

/// `ok_alpha` successful alpha chats, `ok_beta` beta generates, `failing` failing alpha chats.
/// Prompt words: every 5th alpha chat mentions a walrus, every 4th beta prompt a giraffe, and
/// each prompt carries a unique "needle-<i>".
std::vector<sent> run_mix(unsigned port, int ok_alpha, int ok_beta, int failing) {
    std::vector<sent> mix;
    int i = 0;
    for (int k = 0; k < ok_alpha; ++k, ++i) {
        mix.push_back(
            {"alpha", "alpha chat needle-" + std::to_string(i) + (k % 5 == 0 ? " about a Walrus" : ""), false, true});
    }
    for (int k = 0; k < ok_beta; ++k, ++i) {
        mix.push_back(
            {"beta", "beta prompt needle-" + std::to_string(i) + (k % 4 == 0 ? " with a giraffe" : ""), false, false});
    }
    for (int k = 0; k < failing; ++k, ++i) {
        mix.push_back({"alpha", "[[mock:fail]] failing needle-" + std::to_string(i), true, true});
    }
    std::vector<stream_request> reqs;
    for (const auto& s : mix) {
        int n = s.model == "alpha" ? alpha_tokens : beta_tokens;
        reqs.push_back({port, s.chat ? "/api/chat" : "/api/generate",
                        s.chat ? chat_body(s.model, s.prompt, n) : generate_body(s.model, s.prompt, n)});
    }
    auto results = run_concurrent_streams(reqs, 2);
    for (std::size_t k = 0; k < mix.size(); ++k) {
        auto& s = mix[k];
        s.result = std::move(results[k]);
        if (const auto* start = s.result.find("start")) {
            s.request_id = json_of(start->data).value("request_id", "");
        }
        if (const auto* done = s.result.find("done")) {
            auto d = json_of(done->data);
            s.worker_id = d.value("worker_id", "");
            s.completion_tokens = d.value("completion_tokens", std::int64_t{0});
            s.api_total_ms = d.value("total_ms", 0.0);
            if (s.request_id.empty()) {
                s.request_id = d.value("request_id", "");
            }
        }
    }
    return mix;
}

/// percentile_cont: linear interpolation between the closest ranks.
double percentile(std::vector<double> v, double p) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    double pos = p * static_cast<double>(v.size() - 1);
    auto lo = static_cast<std::size_t>(std::floor(pos));
    auto hi = static_cast<std::size_t>(std::ceil(pos));
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

/// The monitor's latency percentiles lie between what the work itself takes (tokens x delay)
/// and what the clients measured at the API (which includes queueing and relaying).
void expect_latency_within(const json& latency, const std::vector<double>& client_ms, double floor_ms,
                           const std::string& what) {
    for (auto [key, p] : {std::pair{"p50", 0.5}, std::pair{"p95", 0.95}, std::pair{"p99", 0.99}}) {
        double got = latency.value(key, -1.0);
        double client = percentile(client_ms, p);
        EXPECT_GE(got, floor_ms * 0.9) << what << " " << key;
        EXPECT_LE(got, client + 2.0) << what << " " << key << " (clients measured " << client << " ms)";
    }
}

/// Every page of /api/requests with `query`, following next_cursor; fails on a repeated id.
std::vector<json> all_pages(unsigned port, const std::string& query, int limit, int* pages = nullptr) {
    std::vector<json> rows;
    std::set<std::string> seen;
    std::string cursor;
    int n = 0;
    for (;;) {
        std::string target = "/api/requests?limit=" + std::to_string(limit) + query;
        if (!cursor.empty()) {
            target += "&cursor=" + url_encode(cursor);
        }
        auto r = get(port, target);
        EXPECT_EQ(r.status, 200u) << target << ": " << r.raw;
        if (r.status != 200) {
            break;
        }
        ++n;
        EXPECT_LE(r.body["requests"].size(), static_cast<std::size_t>(limit));
        for (const auto& row : r.body["requests"]) {
            auto id = row.value("request_id", "");
            EXPECT_TRUE(seen.insert(id).second) << "request " << id << " repeated across pages";
            EXPECT_FALSE(row.contains("messages") || row.contains("text")) << "list rows carry no bodies";
            EXPECT_LE(row.value("preview", "").size(), 160u * 4);
            rows.push_back(row);
        }
        if (r.body["next_cursor"].is_null()) {
            break;
        }
        cursor = r.body["next_cursor"].get<std::string>();
        if (n > 1000) {
            ADD_FAILURE() << "paging does not end";
            break;
        }
    }
    if (pages != nullptr) {
        *pages = n;
    }
    return rows;
}

std::set<std::string> ids_of(const std::vector<json>& rows) {
    std::set<std::string> out;
    for (const auto& r : rows) {
        out.insert(r.value("request_id", ""));
    }
    return out;
}

/// A TCP port nothing listens on (bound, then released).
unsigned closed_port() {
    net::io_context ioc;
    net::ip::tcp::acceptor a{ioc, {net::ip::make_address("127.0.0.1"), 0}};
    auto port = a.local_endpoint().port();
    a.close();
    return port;
}

struct running_cluster {
    scratch_database db;
    cluster c;
    unsigned api = 0;
    unsigned monitor = 0;

    running_cluster(const std::string& db_url, const std::string& amqp_url, std::vector<std::string> audit_args,
                    std::vector<std::string> monitor_args = {})
        : db{db_url}, c{amqp_url} {
        api = c.start_api();
        for (int i = 0; i < 2; ++i) {
            c.start_worker(
                {"--mock-models", "alpha,beta", "--mock-token-delay-us", std::to_string(token_delay_ms * 1000)});
        }
        c.start_audit(db.url(), std::move(audit_args));
        monitor = c.start_monitor(db.url(), std::move(monitor_args));
    }

    /// A new key with `role` in the database (the schema migrated first); its plaintext.
    std::string create_key(const std::string& name, keys::key_role role) {
        auto conn = db.connect();
        if (auto m = pg::migrate(*conn); !m) {
            throw std::runtime_error{"migrate: " + m.error().message};
        }
        keys::key_spec spec;
        spec.name = name;
        spec.role = role;
        auto k = keys::generate_key();
        if (auto made = keys::create_key(*conn, spec, k); !made) {
            throw std::runtime_error{"create_key: " + made.error().message};
        }
        return k.plaintext;
    }
};

/// Waits until the monitor's overview counts `n` completed requests (the audit has stored them).
bool wait_for_stored(unsigned monitor, std::int64_t n, const header_list& headers = {}) {
    return wait_until(
        [&] {
            auto r = get(monitor, "/api/overview?window=5m", headers);
            return r.status == 200 && r.body.value("requests", std::int64_t{-1}) == n &&
                   r.body.value("received", std::int64_t{-1}) == n;
        },
        30s);
}

/// The value of the sample `series` (name{labels}) in a Prometheus text, nullopt when absent.
std::optional<double> sample_of(const std::string& text, const std::string& series) {
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) {
        return std::nullopt;
    }
    auto start = at + series.size() + 2;
    auto value = text.substr(start, text.find('\n', start) - start);
    if (value == "NaN") {
        return std::nan("");
    }
    return std::stod(value);
}

TEST(monitor_e2e, rest_answers_match_a_known_traffic_mix) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    // 6 s: longer than the management API's 5 s statistics interval, whose stale message counts
    // would otherwise read as a stall right after a burst the audit has already stored.
    running_cluster rc{db_url, amqp_url, {"--batch-ms", "20", "--audit-chunks"}};
    auto& c = rc.c;
    const unsigned mon = rc.monitor;
    ASSERT_TRUE(c.wait_for_model(rc.api, "alpha:latest")) << c.logs();
    ASSERT_TRUE(c.wait_for_model(rc.api, "beta:latest")) << c.logs();

    constexpr int ok_alpha = 20, ok_beta = 12, failing = 6, total = ok_alpha + ok_beta + failing;
    auto mix = run_mix(rc.api, ok_alpha, ok_beta, failing);
    std::map<std::string, const sent*> by_id;
    for (const auto& s : mix) {
        ASSERT_EQ(s.result.status, 200u) << s.result.body.substr(0, 300);
        ASSERT_FALSE(s.request_id.empty()) << "no request id for " << s.prompt;
        if (s.fails) {
            ASSERT_NE(s.result.find("error"), nullptr) << s.prompt;
        } else {
            ASSERT_NE(s.result.find("done"), nullptr) << s.prompt << ": " << s.result.body.substr(0, 300);
        }
        by_id[s.request_id] = &s;
    }
    ASSERT_TRUE(wait_for_stored(mon, total)) << get(mon, "/api/overview?window=5m").raw << "\n"
                                             << c.logs().substr(0, 20000);

    // ---- overview: counts, rates over the window, error rate, percentiles, in-flight ----
    constexpr std::int64_t tokens = ok_alpha * alpha_tokens + ok_beta * beta_tokens;
    std::vector<double> client_all;
    std::map<std::string, std::vector<double>> client_by_model;
    for (const auto& s : mix) {
        if (!s.fails) {
            client_all.push_back(s.api_total_ms);
            client_by_model[s.model].push_back(s.api_total_ms);
        }
    }
    // In-flight comes from the heartbeats: 0 once both workers reported after the traffic.
    ASSERT_TRUE(wait_until([&] { return get(mon, "/api/overview?window=5m").body.value("in_flight", -1) == 0; }, 10s));
    auto ov = get(mon, "/api/overview?window=5m");
    ASSERT_EQ(ov.status, 200u) << ov.raw;
    EXPECT_EQ(ov.body["window"], "5m");
    EXPECT_EQ(ov.body["requests"], total);
    EXPECT_EQ(ov.body["errors"], failing);
    EXPECT_EQ(ov.body["completion_tokens"], tokens);
    EXPECT_NEAR(ov.body["error_rate"].get<double>(), static_cast<double>(failing) / total, 1e-9);
    EXPECT_NEAR(ov.body["requests_per_s"].get<double>(), total / 300.0, 1e-9);
    EXPECT_NEAR(ov.body["tokens_per_s"].get<double>(), static_cast<double>(tokens) / 300.0, 1e-9);
    EXPECT_EQ(ov.body["live_workers"], 2);
    expect_latency_within(ov.body["latency_ms"], client_all, alpha_tokens * token_delay_ms, "overview latency");
    EXPECT_GT(ov.body["ttft_ms"]["p50"].get<double>(), 0.0);
    EXPECT_LE(ov.body["ttft_ms"]["p99"].get<double>(), ov.body["latency_ms"]["p99"].get<double>() + 1e-6);
    auto hour = get(mon, "/api/overview?window=1h");
    EXPECT_EQ(hour.body["requests"], total);
    EXPECT_NEAR(hour.body["requests_per_s"].get<double>(), total / 3600.0, 1e-9);
    EXPECT_EQ(get(mon, "/api/overview?window=24h").body["requests"], total);

    // ---- time series: every bucket present, sums match, empty buckets are zeros ----
    auto ts = get(mon, "/api/timeseries?window=5m&bucket=10s");
    ASSERT_EQ(ts.status, 200u) << ts.raw;
    const auto& points = ts.body["points"];
    ASSERT_GE(points.size(), 30u);
    ASSERT_LE(points.size(), 32u);
    std::int64_t sum_requests = 0, sum_errors = 0, sum_tokens = 0;
    int empty = 0;
    for (std::size_t k = 0; k < points.size(); ++k) {
        const auto& p = points[k];
        if (k > 0) {
            EXPECT_EQ(p["t"].get<std::int64_t>() - points[k - 1]["t"].get<std::int64_t>(), 10000);
        }
        sum_requests += p["requests"].get<std::int64_t>();
        sum_errors += p["errors"].get<std::int64_t>();
        sum_tokens += p["completion_tokens"].get<std::int64_t>();
        EXPECT_NEAR(p["requests_per_s"].get<double>(), p["requests"].get<double>() / 10.0, 1e-9);
        if (p["requests"] == 0) {
            ++empty;
            EXPECT_EQ(p["tokens_per_s"], 0.0);
            EXPECT_EQ(p["latency_ms"]["p50"], 0.0);
        }
    }
    EXPECT_EQ(sum_requests, total);
    EXPECT_EQ(sum_errors, failing);
    EXPECT_EQ(sum_tokens, tokens);
    EXPECT_GT(empty, 20) << "the traffic took a few seconds of a 5 minute window";
    auto ts_minute = get(mon, "/api/timeseries?window=1h&bucket=1m");
    ASSERT_EQ(ts_minute.status, 200u);
    EXPECT_GE(ts_minute.body["points"].size(), 60u);
    EXPECT_EQ(get(mon, "/api/timeseries?window=24h&bucket=10s").status, 400u) << "too many buckets";

    // ---- models ----
    auto models = get(mon, "/api/models?window=5m");
    ASSERT_EQ(models.status, 200u) << models.raw;
    std::map<std::string, json> by_model;
    for (const auto& m : models.body["models"]) {
        by_model[m["model"].get<std::string>()] = m;  // one row a model, its name normalized
    }
    ASSERT_EQ(models.body["models"].size(), 2u) << models.raw;
    ASSERT_EQ(by_model.size(), 2u) << models.raw;
    ASSERT_TRUE(by_model.count("alpha:latest") && by_model.count("beta:latest")) << models.raw;
    const auto& alpha = by_model["alpha:latest"];
    const auto& beta = by_model["beta:latest"];
    EXPECT_EQ(alpha["requests"], ok_alpha + failing);
    EXPECT_EQ(alpha["errors"], failing);
    EXPECT_EQ(alpha["completion_tokens"], ok_alpha * alpha_tokens);
    EXPECT_EQ(beta["requests"], ok_beta);
    EXPECT_EQ(beta["errors"], 0);
    EXPECT_EQ(beta["completion_tokens"], ok_beta * beta_tokens);
    // The mean of the rates the workers reported, exactly: a bound from the mock's pace would
    // not hold on a loaded machine (its tokens keep an absolute schedule, so a stall before the
    // first token is followed by a burst, and the rate counts from the first token).
    EXPECT_GT(beta["mean_generation_tokens_per_s"].get<double>(), 0.0);
    auto stored_mean = std::stod(rc.db.scalar(
        "SELECT avg(r.tokens_per_s) FROM responses r LEFT JOIN requests q USING (request_id) "
        "WHERE r.status = 'ok' AND r.tokens_per_s > 0 AND coalesce(nullif(r.model, ''), q.model) IN ('beta', "
        "'beta:latest')"));
    EXPECT_NEAR(beta["mean_generation_tokens_per_s"].get<double>(), stored_mean, 1e-6 * stored_mean);
    expect_latency_within(alpha["latency_ms"], client_by_model["alpha"], alpha_tokens * token_delay_ms, "alpha");
    expect_latency_within(beta["latency_ms"], client_by_model["beta"], beta_tokens * token_delay_ms, "beta");

    // ---- workers: live state from heartbeats + totals ----
    std::map<std::string, std::int64_t> served;
    for (const auto& s : mix) {
        if (!s.fails) {
            ++served[s.worker_id];
        }
    }
    ASSERT_TRUE(wait_until(
        [&] {
            auto w = get(mon, "/api/workers?window=5m");
            std::int64_t hb_total = 0;
            for (const auto& x : w.body["workers"]) {
                hb_total += x.value("requests_total", std::int64_t{0});
            }
            return hb_total == total;
        },
        10s))
        << get(mon, "/api/workers?window=5m").raw;
    auto workers = get(mon, "/api/workers?window=5m");
    ASSERT_EQ(workers.status, 200u) << workers.raw;
    ASSERT_EQ(workers.body["workers"].size(), 2u) << workers.raw;
    EXPECT_EQ(workers.body["heartbeats_connected"], true);
    std::int64_t window_sum = 0;
    for (const auto& w : workers.body["workers"]) {
        EXPECT_EQ(w["state"], "live");
        EXPECT_EQ(w["live"], true);
        EXPECT_EQ(w["in_flight"], 0);
        EXPECT_EQ(w["models"], json({"alpha:latest", "beta:latest"}));
        EXPECT_LT(w["seen_ago_s"].get<double>(), 5.0);
        EXPECT_FALSE(w["first_seen_ms"].is_null()) << "the workers table knows it";
        auto id = w["worker_id"].get<std::string>();
        EXPECT_EQ(w["window"]["requests"].get<std::int64_t>() - w["window"]["errors"].get<std::int64_t>(), served[id])
            << id;
        window_sum += w["window"]["requests"].get<std::int64_t>();
    }
    EXPECT_EQ(window_sum, total);

    // ---- queues (RabbitMQ management API) ----
    if (std::getenv("LLMPROXY_TEST_RABBITMQ_MGMT_URL") != nullptr) {
        ASSERT_TRUE(wait_until([&] { return get(mon, "/api/queues").status == 200; }, 10s))
            << get(mon, "/api/queues").raw;
        ASSERT_TRUE(wait_until(
            [&] {
                auto q = get(mon, "/api/queues");
                // The management API's figures lag by its collection interval (5 s by default).
                // The 4 named queues, then one work queue per model (alpha, beta), each consumed
                // by both workers.
                return q.status == 200 && q.body["queues"].size() == 6 && q.body["queues"][0]["consumers"] == 2 &&
                       q.body["queues"][0]["messages"] == 0 && q.body["queues"][1]["consumers"] == 1 &&
                       q.body["queues"][4]["consumers"] == 2 && q.body["queues"][5]["consumers"] == 2;
            },
            15s))
            << get(mon, "/api/queues").raw;
        auto q = get(mon, "/api/queues");
        EXPECT_EQ(q.body["available"], true);
        std::vector<std::string> names;
        for (const auto& x : q.body["queues"]) {
            names.push_back(x["name"]);
            for (const auto* key : {"messages", "ready", "unacked", "consumers", "publish_rate", "deliver_rate"}) {
                EXPECT_TRUE(x[key].is_number()) << key << " in " << x.dump();
            }
            EXPECT_EQ(x["exists"], true);
        }
        const auto& p = c.prefix();
        broker::topology topo{p};
        std::sort(names.begin() + 4, names.end());
        EXPECT_EQ(names, (std::vector<std::string>{p + ".requests.work", p + ".audit.requests", p + ".audit.responses",
                                                   p + ".dead", topo.model_queue("alpha:latest"),
                                                   topo.model_queue("beta:latest")}));
        EXPECT_EQ(q.body["queues"][4]["model_queue"], true);
        EXPECT_EQ(q.body["work_messages"], 0);
        EXPECT_EQ(get(mon, "/api/overview?window=5m").body["queue_depth"], 0);
        EXPECT_EQ(q.body["queues"][1]["consumers"], 1) << "the audit service";
    }

    // ---- request history: paging without duplicates or gaps ----
    int pages = 0;
    auto rows = all_pages(mon, "", 7, &pages);
    EXPECT_EQ(pages, (total + 6) / 7);
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(total));
    std::set<std::string> client_ids;
    for (const auto& s : mix) {
        client_ids.insert(s.request_id);
    }
    EXPECT_EQ(ids_of(rows), client_ids);
    for (std::size_t k = 1; k < rows.size(); ++k) {
        auto a = rows[k - 1]["received_at_ms"].get<std::int64_t>();
        auto b = rows[k]["received_at_ms"].get<std::int64_t>();
        EXPECT_TRUE(a > b || (a == b && rows[k - 1]["request_id"] > rows[k]["request_id"]))
            << "newest first, ties by id";
    }
    for (const auto& row : rows) {
        const auto* s = by_id.at(row["request_id"].get<std::string>());
        EXPECT_EQ(row["status"], s->fails ? "error" : "ok");
        EXPECT_EQ(row["preview"], s->prompt);
        EXPECT_EQ(row["model"], s->model);
        if (!s->fails) {
            EXPECT_EQ(row["completion_tokens"], s->completion_tokens);
            EXPECT_EQ(row["worker_id"], s->worker_id);
        } else {
            EXPECT_EQ(row["error_code"], "provider_error");
        }
    }

    // ---- every filter ----
    auto count_where = [&](auto pred) { return static_cast<std::size_t>(std::count_if(mix.begin(), mix.end(), pred)); };
    auto alpha_rows = all_pages(mon, "&model=alpha", 10);
    EXPECT_EQ(alpha_rows.size(), count_where([](const sent& s) { return s.model == "alpha"; }));
    for (const auto& r : alpha_rows) {
        EXPECT_EQ(r["model"], "alpha");
    }
    EXPECT_EQ(all_pages(mon, "&model=alpha:latest", 10).size(), alpha_rows.size()) << "every spelling of one model";
    EXPECT_EQ(all_pages(mon, "&status=error", 4).size(), static_cast<std::size_t>(failing));
    EXPECT_EQ(all_pages(mon, "&status=ok", 50).size(), static_cast<std::size_t>(ok_alpha + ok_beta));
    EXPECT_EQ(all_pages(mon, "&status=pending", 50).size(), 0u);
    EXPECT_EQ(all_pages(mon, "&model=alpha&status=error", 50).size(), static_cast<std::size_t>(failing));
    for (const auto& [worker, n] : served) {
        auto w = all_pages(mon, "&worker=" + url_encode(worker) + "&status=ok", 5);
        EXPECT_EQ(w.size(), static_cast<std::size_t>(n)) << worker;
        for (const auto& r : w) {
            EXPECT_EQ(r["worker_id"], worker);
        }
    }
    // Time range: split the history at a row's received_at (unix ms; "from" includes it).
    auto pivot = rows[rows.size() / 2]["received_at_ms"].get<std::int64_t>();
    auto at_or_after = static_cast<std::size_t>(std::count_if(
        rows.begin(), rows.end(), [&](const json& r) { return r["received_at_ms"].get<std::int64_t>() >= pivot; }));
    auto from_rows = all_pages(mon, "&from=" + std::to_string(pivot), 5);
    auto to_rows = all_pages(mon, "&to=" + std::to_string(pivot), 5);
    // received_at_ms is truncated, so ">= pivot ms" and "< pivot ms" split the rows exactly.
    EXPECT_EQ(from_rows.size(), at_or_after);
    EXPECT_EQ(from_rows.size() + to_rows.size(), rows.size());
    EXPECT_TRUE(ids_of(from_rows) != ids_of(to_rows));
    EXPECT_EQ(all_pages(mon, "&to=" + std::to_string(pivot - 3600 * 1000), 5).size(), 0u);
    EXPECT_EQ(all_pages(mon, "&from=" + url_encode("2000-01-01T00:00:00Z"), 50).size(), rows.size())
        << "ISO 8601 bounds work too";

    // ---- text search: prompts (generate) and messages (chat), case-insensitive ----
    EXPECT_EQ(all_pages(mon, "&q=walrus", 50).size(),
              count_where([](const sent& s) { return s.prompt.find("Walrus") != std::string::npos; }));
    EXPECT_EQ(all_pages(mon, "&q=GIRAFFE", 50).size(),
              count_where([](const sent& s) { return s.prompt.find("giraffe") != std::string::npos; }));
    auto needle = all_pages(mon, "&q=needle-17", 50);
    ASSERT_EQ(needle.size(), 1u);
    EXPECT_EQ(needle[0]["preview"], mix[17].prompt);
    EXPECT_EQ(all_pages(mon, "&q=" + url_encode("100%_sure"), 50).size(), 0u) << "% and _ match themselves";
    EXPECT_EQ(all_pages(mon, "&q=needle&model=beta&status=ok", 50).size(), static_cast<std::size_t>(ok_beta));

    // ---- detail ----
    const sent& chat_ok = mix[1];
    auto d = get(mon, "/api/requests/" + chat_ok.request_id);
    ASSERT_EQ(d.status, 200u) << d.raw;
    EXPECT_EQ(d.body["request"]["messages"][0]["content"], chat_ok.prompt);
    EXPECT_EQ(d.body["request"]["options"]["num_predict"], alpha_tokens);
    EXPECT_EQ(d.body["response"]["status"], "ok");
    EXPECT_EQ(d.body["response"]["text"], chat_ok.result.text());
    EXPECT_EQ(d.body["response"]["completion_tokens"], alpha_tokens);
    EXPECT_EQ(d.body["response"]["worker_id"], chat_ok.worker_id);
    EXPECT_LE(d.body["response"]["ttft_ms"].get<double>(), d.body["response"]["duration_ms"].get<double>());
    // Chunk audit is on: the chunks' seq rises to the token count, offsets are non-negative.
    ASSERT_TRUE(
        wait_until([&] { return !get(mon, "/api/requests/" + chat_ok.request_id).body["chunks"].empty(); }, 10s));
    d = get(mon, "/api/requests/" + chat_ok.request_id);
    const auto& chunks = d.body["chunks"];
    EXPECT_EQ(chunks.back()["seq"], alpha_tokens);
    for (const auto& ch : chunks) {
        EXPECT_GE(ch["t_ms"].get<double>(), 0.0);
    }
    const sent& gen_ok = mix[ok_alpha];
    auto g = get(mon, "/api/requests/" + gen_ok.request_id);
    EXPECT_EQ(g.body["request"]["prompt"], gen_ok.prompt);
    EXPECT_EQ(g.body["response"]["text"], gen_ok.result.text());
    const sent& bad = mix.back();
    auto e = get(mon, "/api/requests/" + bad.request_id);
    EXPECT_EQ(e.body["response"]["status"], "error");
    EXPECT_EQ(e.body["response"]["error_code"], "provider_error");
    EXPECT_EQ(e.body["response"]["reported_by"], "worker") << "the worker's own error";
    EXPECT_EQ(get(mon, "/api/requests/no-such-request").status, 404u);

    // ---- errors by route and code ----
    auto errs = get(mon, "/api/errors?window=5m");
    ASSERT_EQ(errs.status, 200u) << errs.raw;
    ASSERT_EQ(errs.body["errors"].size(), 1u) << errs.raw;
    EXPECT_EQ(errs.body["errors"][0]["route"], "/api/chat") << errs.raw;
    EXPECT_EQ(errs.body["errors"][0]["status"], "error") << errs.raw;
    EXPECT_EQ(errs.body["errors"][0]["code"], "provider_error") << errs.raw;
    EXPECT_EQ(errs.body["errors"][0]["count"], failing) << errs.raw;
    std::map<std::string, json> by_route;
    for (const auto& r : errs.body["routes"]) {
        by_route[r["route"].get<std::string>()] = r;
    }
    EXPECT_EQ(by_route["/api/chat"]["requests"], ok_alpha + failing) << errs.raw;
    EXPECT_EQ(by_route["/api/chat"]["errors"], failing) << errs.raw;
    EXPECT_EQ(by_route["/api/generate"]["requests"], ok_beta) << errs.raw;
    EXPECT_EQ(by_route["/api/generate"]["errors"], 0) << errs.raw;
    EXPECT_EQ(get(mon, "/api/errors?window=x").status, 400u);

    // ---- a custom range: `window` long, ending at `to` (unix ms) ----
    const auto wall_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const auto later = std::to_string(wall_ms + 60'000), hour_ago = std::to_string(wall_ms - 3'600'000);
    auto ranged = get(mon, "/api/overview?window=3600s&to=" + later);
    ASSERT_EQ(ranged.status, 200u) << ranged.raw;
    EXPECT_EQ(ranged.body["requests"], total);
    EXPECT_EQ(ranged.body["now_ms"].get<std::int64_t>(), wall_ms + 60'000) << "the window ends at to";
    EXPECT_EQ(get(mon, "/api/overview?window=3600s&to=" + hour_ago).body["requests"], 0) << "all traffic came later";
    EXPECT_EQ(get(mon, "/api/models?window=3600s&to=" + hour_ago).body["models"].size(), 0u);
    EXPECT_EQ(get(mon, "/api/errors?window=3600s&to=" + hour_ago).body["errors"].size(), 0u);
    EXPECT_EQ(get(mon, "/api/errors?window=3600s&to=" + later).body["errors"][0]["count"], failing);
    auto past_ts = get(mon, "/api/timeseries?window=10m&bucket=1m&to=" + hour_ago);
    ASSERT_EQ(past_ts.status, 200u) << past_ts.raw;
    ASSERT_GE(past_ts.body["points"].size(), 10u);
    EXPECT_LE(past_ts.body["points"].back()["t"].get<std::int64_t>(), wall_ms - 3'600'000);
    for (const auto& p : past_ts.body["points"]) {
        EXPECT_EQ(p["requests"], 0);
    }
    std::int64_t ranged_sum = 0;
    auto later_ts = get(mon, "/api/timeseries?window=10m&bucket=1m&to=" + later);
    for (const auto& p : later_ts.body["points"]) {
        ranged_sum += p["requests"].get<std::int64_t>();
    }
    EXPECT_EQ(ranged_sum, total);
    EXPECT_EQ(get(mon, "/api/overview?to=yesterday").status, 400u);

    // ---- bad input is a 400 with a message ----
    for (const auto* target : {"/api/overview?window=5", "/api/overview?window=9d", "/api/requests?status=maybe",
                               "/api/requests?limit=0", "/api/requests?cursor=garbage", "/api/models?window=x"}) {
        auto r = get(mon, target);
        EXPECT_EQ(r.status, 400u) << target;
        EXPECT_EQ(r.body["error"]["code"], "invalid_field") << target;
    }
    EXPECT_EQ(get(mon, "/api/nothing").status, 404u);

    // ---- bounded reads (issue 19): a search looks within its window (a day by default), and
    // pending within the deadline horizon ----
    EXPECT_EQ(all_pages(mon, "&q=needle-17&window=10m&to=" + hour_ago, 50).size(), 0u) << "nothing back then";
    EXPECT_EQ(all_pages(mon, "&q=needle-17&window=2h&to=" + later, 50).size(), 1u);
    auto searched = get(mon, "/api/requests?limit=5&q=needle-17");
    EXPECT_EQ(searched.body["window_s"], 86400) << searched.raw;
    {
        auto conn = rc.db.connect();
        ASSERT_TRUE(conn->exec(
            "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
            " VALUES ('pending-now', now() - interval '1 minute', 'api-1', 'native', '/api/generate', 'generate',"
            " 'alpha', true, 'p'), ('lost-long-ago', now() - interval '3 hours', 'api-1', 'native', '/api/generate',"
            " 'generate', 'alpha', true, 'p')"));
    }
    // The list is shared like the numbers (up to 2 s old): the same pending page was read above.
    ASSERT_TRUE(wait_until(
        [&] { return ids_of(all_pages(mon, "&status=pending", 50)) == std::set<std::string>{"pending-now"}; }, 10s))
        << "older than the deadline horizon: lost, not pending";

    // ---- tabs showing the same page share one query (issue 19: ten tabs cost about one) ----
    auto reads = [&] { return sample_of(get(mon, "/metrics").raw, "llmproxy_monitor_database_reads_total"); };
    const auto reads0 = reads();
    ASSERT_TRUE(reads0.has_value());
    std::vector<std::future<api_answer>> tabs;
    for (int i = 0; i < 8; ++i) {
        tabs.push_back(std::async(std::launch::async, [&] { return get(mon, "/api/requests?limit=13&model=beta"); }));
    }
    std::set<std::string> pages_seen;
    for (auto& t : tabs) {
        auto r = t.get();
        ASSERT_EQ(r.status, 200u) << r.raw;
        EXPECT_EQ(r.body["requests"].size(), 12u) << r.raw;
        pages_seen.insert(r.body.dump());
    }
    EXPECT_EQ(pages_seen.size(), 1u);
    const auto queries = *reads() - *reads0;
    EXPECT_GE(queries, 1) << "the first of them asked the database";
    EXPECT_LE(queries, 2) << "8 tabs asking for one page ran " << queries
                          << " queries (one a background re-read may add)";
}

// Issue 15, item 4: two models on two workers of one slot each; a long generation holds each
// worker while short requests queue behind it, two for alpha and four for beta. The monitor
// reports each model's queue (depth, running, consumers), workers and free slots in /api/models
// and by model in /metrics; once everything ran, the queued requests' wait and each model's
// throughput.
TEST(monitor_e2e, reports_each_models_queue_depth_wait_and_throughput) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    if (std::getenv("LLMPROXY_TEST_RABBITMQ_MGMT_URL") == nullptr) {
        GTEST_SKIP() << "needs the RabbitMQ management API (scripts/test provides it)";
    }
    constexpr int delay_ms = 50, long_tokens = 300, short_tokens = 2;
    constexpr int alpha_queued = 2, beta_queued = 4;
    scratch_database db{db_url};
    cluster c{amqp_url};
    const unsigned api = c.start_api();
    for (const auto* model : {"alpha", "beta"}) {
        c.start_worker({"--mock-models", model, "--concurrency", "1", "--mock-token-delay-us",
                        std::to_string(delay_ms * 1000), "--heartbeat-ms", "500"});
    }
    c.start_audit(db.url(), {"--batch-ms", "20"});
    const unsigned mon = c.start_monitor(db.url(), {"--queue-poll-ms", "200"});
    ASSERT_TRUE(c.wait_for_model(api, "alpha:latest")) << c.logs();
    ASSERT_TRUE(c.wait_for_model(api, "beta:latest")) << c.logs();

    // The long generations first; once both workers are busy, the short ones queue behind them.
    const auto t0 = std::chrono::steady_clock::now();
    auto blockers = std::async(std::launch::async, [&] {
        return run_concurrent_streams({{api, "/api/generate", generate_body("alpha", "long alpha", long_tokens)},
                                       {api, "/api/generate", generate_body("beta", "long beta", long_tokens)}},
                                      2);
    });
    ASSERT_TRUE(wait_until(
        [&] {
            auto w = get(mon, "/api/workers?window=5m");
            int busy = 0;
            for (const auto& x : w.body["workers"]) {
                busy += x.value("in_flight", 0) == 1 ? 1 : 0;
            }
            return busy == 2;
        },
        20s))
        << get(mon, "/api/workers?window=5m").raw;
    std::vector<stream_request> shorts;
    for (int i = 0; i < alpha_queued; ++i) {
        shorts.push_back(
            {api, "/api/generate", generate_body("alpha", "short alpha " + std::to_string(i), short_tokens)});
    }
    for (int i = 0; i < beta_queued; ++i) {
        shorts.push_back(
            {api, "/api/generate", generate_body("beta", "short beta " + std::to_string(i), short_tokens)});
    }
    auto queued = std::async(std::launch::async, [&] { return run_concurrent_streams(shorts, 6); });

    // While the long ones run: each model's own depth (the management API's figures lag by its
    // statistics interval, 5 s by default, and its consumer count can lag its message counts).
    auto row_of = [&](const json& body, const std::string& model) {
        for (const auto& m : body["models"]) {
            if (m["model"] == model) {
                return m;
            }
        }
        return json{};
    };
    auto queued_as_expected = [&] {
        auto m = get(mon, "/api/models?window=5m");
        auto a = row_of(m.body, "alpha:latest");
        auto b = row_of(m.body, "beta:latest");
        return m.status == 200 && a.is_object() && b.is_object() && a["queue"].is_object() && b["queue"].is_object() &&
               a["queue"]["ready"] == alpha_queued && b["queue"]["ready"] == beta_queued &&
               a["queue"]["unacked"] == 1 && b["queue"]["unacked"] == 1 && a["queue"]["consumers"] == 1 &&
               b["queue"]["consumers"] == 1 && a["free_slots"] == 0 && b["free_slots"] == 0;
    };
    ASSERT_TRUE(wait_until(queued_as_expected, 14s)) << get(mon, "/api/models?window=5m").raw << "\n"
                                                     << get(mon, "/api/queues").raw;
    const auto t_queued = std::chrono::steady_clock::now();
    auto models = get(mon, "/api/models?window=5m");
    for (const auto* name : {"alpha:latest", "beta:latest"}) {
        auto m = row_of(models.body, name);
        EXPECT_EQ(m["workers"], 1) << name;
        EXPECT_EQ(m["queue"]["consumers"], 1) << name;
        EXPECT_EQ(m["requests"], 0) << name << ": nothing completed yet, listed for its queue and worker";
    }
    EXPECT_EQ(models.body["queues_available"], true);
    ASSERT_TRUE(wait_until(
        [&] {
            auto text = http_request(mon, "GET", "/metrics", {}, {}).body;
            return sample_of(text, R"(llmproxy_monitor_model_queue_depth{model="alpha:latest"})") == alpha_queued &&
                   sample_of(text, R"(llmproxy_monitor_model_queue_depth{model="beta:latest"})") == beta_queued &&
                   sample_of(text, R"(llmproxy_monitor_model_workers{model="beta:latest"})") == 1 &&
                   sample_of(text, R"(llmproxy_monitor_model_free_slots{model="alpha:latest"})") == 0;
        },
        5s))
        << http_request(mon, "GET", "/metrics", {}, {}).body;

    // Everything ran: the waits of the queued requests, and each model's throughput.
    auto long_results = blockers.get();
    auto short_results = queued.get();
    double longest_client_ms = 0;
    for (const auto* results : {&long_results, &short_results}) {
        for (const auto& r : *results) {
            ASSERT_EQ(r.status, 200u) << r.body.substr(0, 300);
            ASSERT_NE(r.find("done"), nullptr) << r.body.substr(0, 300);
            longest_client_ms = std::max(longest_client_ms, json_of(r.find("done")->data).value("total_ms", 0.0));
        }
    }
    constexpr int total = 2 + alpha_queued + beta_queued;
    ASSERT_TRUE(wait_for_stored(mon, total)) << get(mon, "/api/overview?window=5m").raw;
    // Every short request was in its queue at t_queued and could not start before its model's
    // long generation ended, at least long_tokens x delay after t0.
    // (20 ms: the stored times are whole milliseconds.)
    const double waited_at_least_ms =
        long_tokens * delay_ms - std::chrono::duration<double, std::milli>(t_queued - t0).count() - 20;
    models = get(mon, "/api/models?window=5m");
    ASSERT_EQ(models.status, 200u) << models.raw;
    for (auto [name, queued_n] : {std::pair{"alpha:latest", alpha_queued}, std::pair{"beta:latest", beta_queued}}) {
        auto m = row_of(models.body, name);
        const int n = 1 + queued_n;
        EXPECT_EQ(m["requests"], n) << name;
        EXPECT_NEAR(m["requests_per_s"].get<double>(), n / 300.0, 1e-9) << name;
        EXPECT_NEAR(m["tokens_per_s"].get<double>(), (long_tokens + queued_n * short_tokens) / 300.0, 1e-9) << name;
        ASSERT_TRUE(m["wait_ms"].is_object()) << models.raw;
        // The median is a queued request (more than half of them queued): it waited.
        EXPECT_GE(m["wait_ms"]["p50"].get<double>(), waited_at_least_ms) << name;
        EXPECT_GE(m["wait_ms"]["p95"].get<double>(), m["wait_ms"]["p50"].get<double>()) << name;
        EXPECT_LE(m["wait_ms"]["p95"].get<double>(), longest_client_ms) << name;
    }
    // The queues drained (the management API's figures lag by its statistics interval).
    EXPECT_TRUE(wait_until(
        [&] {
            auto now = get(mon, "/api/models?window=5m");
            return row_of(now.body, "alpha:latest")["queue"]["ready"] == 0 &&
                   row_of(now.body, "beta:latest")["queue"]["ready"] == 0;
        },
        15s))
        << get(mon, "/api/models?window=5m").raw;
    // /metrics over the last minute: the same counts per second, and the waits in seconds.
    ASSERT_TRUE(wait_until(
        [&] {
            auto text = http_request(mon, "GET", "/metrics", {}, {}).body;
            auto a = sample_of(text, R"(llmproxy_monitor_model_requests_per_second{model="alpha:latest"})");
            auto b = sample_of(text, R"(llmproxy_monitor_model_requests_per_second{model="beta:latest"})");
            return a && b && std::abs(*a - (1 + alpha_queued) / 60.0) < 1e-9 &&
                   std::abs(*b - (1 + beta_queued) / 60.0) < 1e-9;
        },
        10s))
        << http_request(mon, "GET", "/metrics", {}, {}).body;
    auto text = http_request(mon, "GET", "/metrics", {}, {}).body;
    auto wait_p50 =
        sample_of(text, R"(llmproxy_monitor_model_queue_wait_seconds{model="beta:latest",percentile="50"})");
    ASSERT_TRUE(wait_p50) << text;
    EXPECT_GE(*wait_p50 * 1000, waited_at_least_ms);
}

TEST(monitor_e2e, serves_the_dashboard_files_and_nothing_outside_them) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    // A dist of our own, so the test does not depend on the npm build.
    auto web = c.dir() / "web";
    std::filesystem::create_directories(web / "assets");
    std::ofstream{web / "index.html"} << "<!doctype html><title>t</title>";
    std::ofstream{web / "assets" / "app.js"} << "console.log(1)";
    std::ofstream{web / "assets" / "app.css"} << "body{}";
    std::ofstream{c.dir() / "secret.txt"} << "secret";
    auto mon = c.start_monitor(db.url(), {"--web-dir", web.string()});
    auto index = http_get(mon, "/");
    EXPECT_EQ(index.status, 200u);
    EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
    EXPECT_EQ(index.body, "<!doctype html><title>t</title>");
    auto js = http_get(mon, "/assets/app.js");
    EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
    EXPECT_EQ(http_get(mon, "/assets/app.css").headers["content-type"], "text/css; charset=utf-8");
    for (const auto* evil : {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
                             "/assets/%2e%2e%2f%2e%2e%2fsecret.txt", "/..%5csecret.txt"}) {
        auto r = http_get(mon, evil);
        EXPECT_EQ(r.status, 404u) << evil;
        EXPECT_EQ(r.body.find("secret\n"), std::string::npos);
        EXPECT_NE(r.body, "secret") << evil;
    }
    EXPECT_EQ(http_request(mon, "POST", "/index.html", "x").status, 405u);
    EXPECT_EQ(http_get(mon, "/healthz").status, 200u);
}

TEST(monitor_e2e, a_search_past_the_query_timeout_answers_504_and_is_not_taken_for_postgres_down) {
    // The text search has no index (audit migration 3): over a long history a rare term runs
    // into --query-timeout-ms. A 1 ms timeout and 200,000 stored requests make that certain.
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    {
        auto conn = db.connect();
        ASSERT_TRUE(pg::migrate(*conn));
        ASSERT_TRUE(
            conn->exec("INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind,"
                       " model, stream, prompt) SELECT 'h-' || i, now() - i * interval '1 second', 'api-1',"
                       " 'native', '/api/generate', 'generate', 'alpha', true,"
                       " repeat('a long prompt about nothing in particular ', 4) || i"
                       " FROM generate_series(1, 200000) AS i"));
    }
    // The monitor's connection runs the migrations, which may well take longer than the query
    // timeout: hold their lock until the monitor waits on it, so that they certainly do. A
    // migrator waits for it by polling outside any transaction (pg/migrations.hpp).
    auto holder = db.connect();
    ASSERT_TRUE(holder->exec("BEGIN; SELECT pg_advisory_xact_lock(7316270417)"));
    cluster c{amqp_url};
    auto mon = c.start_monitor(db.url(), {"--query-timeout-ms", "1"});
    auto search =
        std::async(std::launch::async, [&] { return get(mon, "/api/requests?limit=50&q=zebra-that-is-not-there"); });
    auto watcher = db.connect();
    ASSERT_TRUE(wait_until(
        [&] {
            auto w = watcher->query(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_lock%'"
                " AND application_name = 'llmproxy-monitor'");
            return w && w.value().rows.at(0).at(0) == std::optional<std::string>{"t"};
        },
        10s))
        << "the monitor never waited for the migration lock";
    ASSERT_TRUE(holder->exec("COMMIT"));
    auto r = search.get();
    EXPECT_EQ(r.status, 504u) << r.body.dump();
    EXPECT_EQ(r.body["error"]["code"], "query_timeout") << r.body.dump();
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find("narrow the time window"), std::string::npos);
    EXPECT_EQ(c.logs().find("database unavailable"), std::string::npos) << c.logs();
}

TEST(monitor_e2e, says_clearly_when_postgres_or_the_management_api_is_down_and_recovers) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    // The database does not exist yet: the monitor answers 503 and keeps trying.
    scratch_database db{db_url, /*create=*/false};
    cluster c{amqp_url};
    c.start_worker({"--mock-models", "alpha"});
    auto mgmt_down = "http://127.0.0.1:" + std::to_string(closed_port());
    auto mon = c.start_monitor(db.url(), {"--rabbitmq-mgmt-url", mgmt_down, "--queue-poll-ms", "200"});
    for (const auto* target :
         {"/api/overview", "/api/timeseries", "/api/models", "/api/requests", "/api/requests/some-id"}) {
        auto r = get(mon, target);
        EXPECT_EQ(r.status, 503u) << target << ": " << r.raw;
        EXPECT_EQ(r.body["error"]["code"], "db_unavailable") << target;
        EXPECT_NE(r.body["error"]["message"].get<std::string>().find("PostgreSQL"), std::string::npos);
    }
    // Workers: the live half still answers, and says what is missing.
    ASSERT_TRUE(wait_until([&] { return get(mon, "/api/workers").body["workers"].size() == 1; }, 10s))
        << get(mon, "/api/workers").raw;
    auto w = get(mon, "/api/workers");
    EXPECT_EQ(w.status, 200u);
    EXPECT_TRUE(w.body.contains("database_error"));
    EXPECT_EQ(w.body["workers"][0]["state"], "live");
    // The management API is unreachable: /api/queues says so.
    ASSERT_TRUE(wait_until([&] { return get(mon, "/api/queues").body["error"].is_object(); }, 10s));
    auto q = get(mon, "/api/queues");
    EXPECT_EQ(q.status, 503u);
    EXPECT_EQ(q.body["error"]["code"], "rabbitmq_management_unavailable");
    EXPECT_NE(q.body["error"]["message"].get<std::string>().find(mgmt_down), std::string::npos) << q.raw;
    auto st = get(mon, "/api/status");
    EXPECT_EQ(st.body["database"]["available"], false);
    EXPECT_EQ(st.body["rabbitmq_management"]["available"], false);

    // The database appears: the monitor reconnects (and applies the schema) on its own.
    db.create();
    ASSERT_TRUE(wait_until([&] { return get(mon, "/api/overview").status == 200; }, 15s))
        << get(mon, "/api/overview").raw;
    EXPECT_EQ(get(mon, "/api/overview").body["requests"], 0);
    EXPECT_EQ(get(mon, "/api/requests").body["requests"].size(), 0u);
    EXPECT_EQ(get(mon, "/api/status").body["database"]["available"], true);
}

/// The port of the test broker's management API (LLMPROXY_TEST_RABBITMQ_MGMT_URL), 0 without one.
unsigned mgmt_port() {
    const char* url = std::getenv("LLMPROXY_TEST_RABBITMQ_MGMT_URL");
    if (url == nullptr) {
        return 0;
    }
    std::string u{url};
    auto colon = u.rfind(':');
    return colon == std::string::npos ? 0 : static_cast<unsigned>(std::stoul(u.substr(colon + 1)));
}

TEST(monitor_e2e, status_turns_red_while_audit_ingest_stalls_or_dead_letters_wait_and_green_after) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    const unsigned mgmt = mgmt_port();
    if (mgmt == 0) {
        GTEST_SKIP() << "needs the RabbitMQ management API (scripts/test provides it)";
    }
    running_cluster rc{
        db_url, amqp_url, {"--batch-ms", "20"}, {"--ingest-stall-seconds", "6", "--queue-poll-ms", "250"}};
    const unsigned mon = rc.monitor;
    ASSERT_TRUE(rc.c.wait_for_model(rc.api, "alpha:latest")) << rc.c.logs();
    auto status = [&] { return get(mon, "/api/status").body; };
    auto green = [&] {
        auto s = status();
        return s["audit_ingest"]["known"] == true && s["audit_ingest"]["ok"] == true &&
               s["dead_letters"]["known"] == true && s["dead_letters"]["ok"] == true;
    };
    ASSERT_TRUE(wait_until(green, 30s)) << status().dump();
    ASSERT_EQ(run_mix(rc.api, 3, 0, 0).size(), 3u);
    ASSERT_TRUE(wait_for_stored(mon, 3)) << rc.c.logs().substr(0, 20000);
    EXPECT_TRUE(green()) << "a working audit is green: " << status().dump();

    // The audit stops while traffic flows: the audit queues fill, no row is stored.
    rc.c.audits().front()->stop();
    for (int round = 0; round < 3; ++round) {
        for (const auto& s : run_mix(rc.api, 2, 0, 0)) {
            ASSERT_EQ(s.result.status, 200u);
        }
    }
    ASSERT_TRUE(wait_until([&] { return status()["audit_ingest"]["ok"] == false; }, 30s)) << status().dump();
    auto red = status();
    EXPECT_GE(red["audit_ingest"]["stalled_for_s"].get<double>(), 6.0) << red.dump();
    EXPECT_GT(red["audit_ingest"]["backlog"].get<std::int64_t>(), 0) << red.dump();
    EXPECT_NE(red["audit_ingest"]["reason"].get<std::string>().find("audit ingest stalled"), std::string::npos)
        << red.dump();
    EXPECT_EQ(get(mon, "/api/overview?window=5m").body["requests"], 3) << "no row was stored meanwhile";

    // It comes back: the backlog is stored and the status turns green again.
    rc.c.start_audit(rc.db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(wait_for_stored(mon, 9)) << rc.c.logs().substr(0, 20000);
    ASSERT_TRUE(wait_until([&] { return status()["audit_ingest"]["ok"] == true; }, 30s)) << status().dump();

    // A message in the dead-letter queue is red (with the queue's name) until it is purged.
    const std::string dead = rc.c.prefix() + ".dead";
    const header_list admin{{"Content-Type", "application/json"}, {"Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q="}};
    auto published =
        http_request(mgmt, "POST", "/api/exchanges/%2F/" + dead + "/publish",
                     R"({"properties":{},"routing_key":"","payload":"lost","payload_encoding":"string"})", admin);
    ASSERT_EQ(published.status, 200u) << published.body;
    ASSERT_EQ(json::parse(published.body)["routed"], true) << published.body;
    ASSERT_TRUE(wait_until([&] { return status()["dead_letters"]["ok"] == false; }, 30s)) << status().dump();
    auto dl = status()["dead_letters"];
    EXPECT_EQ(dl["count"], 1) << dl.dump();
    EXPECT_NE(dl["reason"].get<std::string>().find(dead), std::string::npos) << dl.dump();
    // The audit itself is fine (its own status is sampled: a moment of backlog from the API's
    // delivery confirmations can read as not ok once, so wait for it rather than sample once).
    EXPECT_TRUE(wait_until([&] { return status()["audit_ingest"]["ok"] == true; }, 10s))
        << "the audit itself is fine: " << status().dump();
    auto purged = http_request(mgmt, "DELETE", "/api/queues/%2F/" + dead + "/contents", {}, admin);
    ASSERT_EQ(purged.status / 100, 2u) << purged.body;
    ASSERT_TRUE(wait_until([&] { return status()["dead_letters"]["ok"] == true; }, 30s)) << status().dump();
}

/// `name` found on PATH ("" when absent).
std::string on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string_view rest = path != nullptr ? path : "/usr/bin";
    while (!rest.empty()) {
        auto colon = rest.find(':');
        std::filesystem::path candidate = std::filesystem::path{std::string{rest.substr(0, colon)}} / name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
        rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
    return {};
}

/// Runs `node web/tests/dashboard.test.mjs` with `env` (2 minutes at most); returns its exit
/// code and output.
std::pair<int, std::string> run_node(std::vector<std::string> env, const std::filesystem::path& log) {
    auto node = on_path("node");
    if (node.empty()) {
        return {127, "node is not on PATH"};
    }
    child_process p{
        "node", {node, std::string{LLMPROXY_SOURCE_DIR} + "/web/tests/dashboard.test.mjs"}, std::move(env), log};
    auto code = p.wait_exit(120s);
    if (!code) {
        p.stop(1s);
        return {124, "the browser test did not finish within 2 minutes\n" + p.log()};
    }
    return {*code, p.log()};
}

TEST(monitor_e2e, dashboard_in_headless_chromium_shows_the_traffic) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    auto dist = std::filesystem::path{LLMPROXY_SOURCE_DIR} / "web" / "dist" / "index.html";
    ASSERT_TRUE(std::filesystem::exists(dist)) << "build the dashboard first: cd web && npm ci && npm run build";
    ASSERT_TRUE(std::filesystem::exists(std::filesystem::path{LLMPROXY_SOURCE_DIR} / "web" / "node_modules" /
                                        "playwright-core"))
        << "cd web && npm ci";
    // The monitor as deployed: --auth keys; the browser logs in with an admin key, then a viewer's.
    running_cluster rc{db_url, amqp_url, {"--batch-ms", "20", "--audit-chunks"}, {"--auth", "keys"}};
    const std::string admin_key = rc.create_key("browser-admin", keys::key_role::admin);
    const std::string viewer_key = rc.create_key("browser-viewer", keys::key_role::viewer);
    const header_list as_admin{{"Authorization", "Bearer " + admin_key}};
    ASSERT_TRUE(rc.c.wait_for_model(rc.api, "beta:latest")) << rc.c.logs();
    constexpr int ok_alpha = 9, ok_beta = 5, failing = 3, total = ok_alpha + ok_beta + failing;
    auto mix = run_mix(rc.api, ok_alpha, ok_beta, failing);
    ASSERT_TRUE(wait_for_stored(rc.monitor, total, as_admin)) << rc.c.logs().substr(0, 20000);
    ASSERT_TRUE(
        wait_until([&] { return get(rc.monitor, "/api/overview", as_admin).body.value("in_flight", -1) == 0; }, 10s));
    const sent& pick = mix[2];
    json expect{{"requests", total},
                {"errors", failing},
                {"tokens", ok_alpha * alpha_tokens + ok_beta * beta_tokens},
                {"models", {{"alpha", ok_alpha + failing}, {"beta", ok_beta}}},
                {"workers", 2},
                {"detail_request_id", pick.request_id},
                {"detail_prompt", pick.prompt},
                {"detail_text", pick.result.text()},
                {"search", "needle-2"}};
    auto out_dir = rc.c.dir() / "browser";
    std::filesystem::create_directories(out_dir);
    auto [code, output] = run_node(
        {"MONITOR_URL=http://127.0.0.1:" + std::to_string(rc.monitor), "EXPECT_JSON=" + expect.dump(),
         "OUTPUT_DIR=" + out_dir.string(), "MONITOR_ADMIN_KEY=" + admin_key, "MONITOR_VIEWER_KEY=" + viewer_key},
        out_dir / "node.log");
    EXPECT_EQ(code, 0) << output;
    EXPECT_TRUE(std::filesystem::exists(out_dir / "dashboard.png")) << output;
    EXPECT_TRUE(std::filesystem::exists(out_dir / "detail.png")) << output;
}

}  // namespace
}  // namespace llmp::testing

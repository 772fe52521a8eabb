// The audit service end to end: api + workers + audit processes, the real RabbitMQ and the
// real PostgreSQL (each test stores into a scratch database of its own).

#include "e2e_common.hpp"
#include "e2e_database.hpp"
#include "support/raw_stream.hpp"

#include "broker/connection.hpp"
#include "broker/publisher.hpp"
#include "broker/topology.hpp"
#include "common/messages.hpp"
#include "pg/testing/scratch_database.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <thread>

namespace llmp::testing {
using llmp::request_message;
namespace {

using namespace std::chrono_literals;
using pg::testing::scratch_database;

/// What one client saw.
struct outcome {
    bool ok = false;
    std::string why;
    std::string request_id;
    std::string text;
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    double tokens_per_s = 0;
    double total_ms = 0;
    std::string worker_id;
};

outcome outcome_of(const stream_result& r, bool stream, bool chat) {
    outcome o;
    if (r.status != 200 || !r.error.empty()) {
        o.why = "status " + std::to_string(r.status) + " error " + r.error + " body " + r.body.substr(0, 300);
        return o;
    }
    nlohmann::json done;
    if (stream) {
        const auto* start = r.find("start");
        const auto* d = r.find("done");
        if (start == nullptr || d == nullptr) {
            o.why = "no start or done event: " + r.body.substr(0, 300);
            return o;
        }
        o.request_id = json_of(start->data)["request_id"];
        done = json_of(d->data);
        o.text = r.text();
    } else {
        done = json_of(r.body);
        if (!done.is_object()) {
            o.why = "not JSON: " + r.body.substr(0, 300);
            return o;
        }
        o.request_id = done["request_id"];
        o.text = chat ? done["message"]["content"].get<std::string>() : done["response"].get<std::string>();
    }
    o.prompt_tokens = done["prompt_tokens"];
    o.completion_tokens = done["completion_tokens"];
    o.tokens_per_s = done["tokens_per_s"];
    o.total_ms = done["total_ms"];
    o.worker_id = done["worker_id"];
    o.ok = true;
    return o;
}

struct load_item {
    stream_request req;
    bool stream = true;
    bool chat = true;
};

/// `n` requests, a mix of chat/generate and streaming/non-streaming.
std::vector<load_item> make_load(unsigned port, int n, int first, int num_predict) {
    std::vector<load_item> out;
    for (int i = first; i < first + n; ++i) {
        bool chat = i % 2 == 0;
        bool stream = i % 3 != 0;
        std::string prompt = "audit client " + std::to_string(i);
        int k = num_predict > 0 ? num_predict : 2 + i % 9;
        out.push_back({{port, chat ? "/api/chat" : "/api/generate",
                        chat ? chat_body("mock", prompt, k, stream) : generate_body("mock", prompt, k, stream)},
                       stream,
                       chat});
    }
    return out;
}

/// Runs the items in waves of `wave` concurrent clients; returns one outcome per item.
std::vector<outcome> run_load(const std::vector<load_item>& items, std::size_t wave = 200) {
    std::vector<outcome> out;
    for (std::size_t i = 0; i < items.size(); i += wave) {
        std::vector<stream_request> reqs;
        for (std::size_t k = i; k < std::min(items.size(), i + wave); ++k) {
            reqs.push_back(items[k].req);
        }
        auto results = run_concurrent_streams(reqs, 2);
        for (std::size_t k = 0; k < results.size(); ++k) {
            out.push_back(outcome_of(results[k], items[i + k].stream, items[i + k].chat));
        }
    }
    return out;
}

/// Rows of `table` (which may carry a WHERE clause); -1 until the audit has created the tables.
std::int64_t count(const scratch_database& db, const std::string& table) {
    try {
        return db.count("SELECT count(*) FROM " + table);
    } catch (const std::runtime_error&) {
        return -1;
    }
}

/// Every client succeeded, and the database holds exactly one request and one response row per
/// client, with what the client saw.
void expect_rows_match(const scratch_database& db, const std::vector<outcome>& outcomes, bool check_values = true) {
    int failed = 0;
    for (const auto& o : outcomes) {
        if (!o.ok && ++failed <= 5) {
            ADD_FAILURE() << "client failed: " << o.why;
        }
    }
    ASSERT_EQ(failed, 0);
    auto n = static_cast<std::int64_t>(outcomes.size());
    ASSERT_EQ(count(db, "requests"), n);
    ASSERT_EQ(count(db, "responses"), n);
    auto c = db.connect();
    auto rows = c->query(
        "SELECT q.request_id, r.text, r.prompt_tokens, r.completion_tokens, r.tokens_per_s, r.worker_id, "
        "r.status, r.ttft_ms <= r.duration_ms, r.completed_at >= q.received_at, r.duration_ms "
        "FROM requests q JOIN responses r USING (request_id)");
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(static_cast<std::int64_t>(rows.value().rows.size()), n) << "request and response ids pair up";
    std::map<std::string, std::vector<std::optional<std::string>>> stored;
    for (auto& r : rows.value().rows) {
        stored[*r[0]] = r;
    }
    int mismatches = 0;
    for (const auto& o : outcomes) {
        auto it = stored.find(o.request_id);
        if (it == stored.end()) {
            if (++mismatches <= 5) {
                ADD_FAILURE() << "request " << o.request_id << " is not stored";
            }
            continue;
        }
        if (!check_values) {
            continue;
        }
        const auto& r = it->second;
        std::string why;
        if (r[1].value_or("") != o.text) {
            why += " text '" + r[1].value_or("") + "' != '" + o.text + "'";
        }
        if (std::stoll(r[2].value_or("-1")) != o.prompt_tokens ||
            std::stoll(r[3].value_or("-1")) != o.completion_tokens) {
            why += " token counts differ";
        }
        if (std::abs(std::stod(r[4].value_or("0")) - o.tokens_per_s) > 1e-6 * std::max(1.0, o.tokens_per_s)) {
            why += " tokens/s " + r[4].value_or("") + " != " + std::to_string(o.tokens_per_s);
        }
        if (r[5].value_or("") != o.worker_id || r[6].value_or("") != "ok") {
            why += " worker or status differ";
        }
        if (r[7].value_or("") != "t" || r[8].value_or("") != "t") {
            why += " timings inconsistent";
        }
        if (std::stod(r[9].value_or("0")) > o.total_ms + 1.0) {
            why += " worker duration longer than what the client measured";
        }
        if (!why.empty() && ++mismatches <= 5) {
            ADD_FAILURE() << "request " << o.request_id << ":" << why;
        }
    }
    EXPECT_EQ(mismatches, 0);
}

TEST(audit_e2e, every_request_and_response_is_stored_once_with_what_clients_saw) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--mock-token-delay-us", "500"});
    c.start_worker({"--mock-token-delay-us", "500"});
    c.start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    auto outcomes = run_load(make_load(port, 120, 0, 0));
    ASSERT_TRUE(wait_until([&] { return count(db, "responses") >= 120 && count(db, "requests") >= 120; }, 30s))
        << c.logs().substr(0, 20000);
    expect_rows_match(db, outcomes);
    EXPECT_EQ(db.count("SELECT count(DISTINCT kind) FROM requests"), 2);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE NOT stream"), 40);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE kind = 'chat' AND messages->0->>'role' = 'user'"), 60);
    EXPECT_EQ(count(db, "response_chunks"), 0) << "chunk audit is off by default";
    // Workers announce themselves every 500 ms in tests: both reach the workers table, with
    // totals that add up to the requests once their next heartbeats are in.
    ASSERT_TRUE(wait_until(
        [&] {
            return db.count("SELECT count(*) FROM workers WHERE requests_total > 0") == 2 &&
                   db.count("SELECT coalesce(sum(requests_total), 0) FROM workers") == 120;
        },
        10s))
        << db.scalar("SELECT string_agg(worker_id || '=' || requests_total, ' ') FROM workers");
}

TEST(audit_e2e, chunk_level_audit_stores_each_chunk_and_can_be_switched_off) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--mock-token-delay-us", "2000"});
    auto& audit = c.start_audit(db.url(), {"--audit-chunks"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    std::vector<load_item> load;
    for (const auto& item : make_load(port, 20, 0, 0)) {
        if (item.stream) {
            load.push_back(item);
        }
    }
    auto outcomes = run_load(load);
    auto n = static_cast<std::int64_t>(outcomes.size());
    ASSERT_TRUE(wait_until([&] { return count(db, "responses") == n; }, 30s)) << c.logs().substr(0, 20000);
    for (const auto& o : outcomes) {
        ASSERT_TRUE(o.ok) << o.why;
        EXPECT_EQ(db.scalar("SELECT string_agg(text, '' ORDER BY seq) FROM response_chunks WHERE request_id = '" +
                            o.request_id + "'"),
                  o.text);
    }
    EXPECT_EQ(db.count("SELECT count(*) FROM response_chunks c JOIN responses r USING (request_id) "
                       "WHERE c.received_at > r.ingested_at"),
              0);

    // Off again: the binding goes away, later streams leave no chunk rows.
    ASSERT_EQ(audit.stop(15s), 0) << audit.log();
    auto chunks_before = count(db, "response_chunks");
    c.start_audit(db.url());
    auto more = run_load(make_load(port, 6, 100, 5));
    ASSERT_TRUE(wait_until([&] { return count(db, "responses") == n + 6; }, 30s)) << c.logs().substr(0, 20000);
    EXPECT_EQ(count(db, "response_chunks"), chunks_before);
}

/// One api (with `api_args`), one mock worker and an audit storing into `db`; returns the API's
/// port (the caller waits for the model).
unsigned start_api_worker_and_audit(cluster& c, const scratch_database& db, std::vector<std::string> api_args = {}) {
    auto port = c.start_api(std::move(api_args));
    c.start_worker();
    c.start_audit(db.url(), {"--batch-ms", "20"});
    return port;
}

/// The request id from a stream's `event: start`.
std::string request_id_of(const raw_stream& s) {
    auto start = s.received().find("\"request_id\":\"");
    if (start == std::string::npos) {
        return {};
    }
    start += 14;
    return s.received().substr(start, s.received().find('"', start) - start);
}

/// Waits until the API server's verdict and the worker's report for the one request are merged
/// into its row (reported_by 'both').
bool merged_row_stored(const scratch_database& db) {
    return wait_until([&] { return count(db, "responses WHERE reported_by = 'both'") == 1; }, 15s);
}

TEST(audit_e2e, a_cancelled_stream_is_stored_as_cancelled_with_its_partial_text) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = start_api_worker_and_audit(c, db);
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();

    const std::string prompt = "a long story, then the client leaves";
    constexpr int asked = 400;
    nlohmann::json body{
        {"model", "mock"}, {"prompt", prompt}, {"options", {{"num_predict", asked}, {"mock_token_delay_ms", 10}}}};
    raw_stream s{port, "/api/generate", body.dump()};
    ASSERT_TRUE(s.read_until("event: token", 10s)) << s.received();
    const std::string id = request_id_of(s);
    ASSERT_FALSE(id.empty()) << s.received();
    s.close();

    // The API's verdict (the client went away) and the worker's report (what it generated) meet
    // in one row.
    ASSERT_TRUE(merged_row_stored(db)) << c.logs().substr(0, 20000);
    EXPECT_EQ(count(db, "responses"), 1);
    EXPECT_EQ(db.scalar("SELECT status FROM responses WHERE request_id = '" + id + "'"), "cancelled");
    EXPECT_EQ(db.scalar("SELECT error_code FROM responses WHERE request_id = '" + id + "'"), "cancelled");
    const std::string partial = db.scalar("SELECT text FROM responses WHERE request_id = '" + id + "'");
    const auto tokens = db.count("SELECT completion_tokens FROM responses WHERE request_id = '" + id + "'");
    const auto full = providers::mock_tokens(prompt, asked);
    ASSERT_GT(tokens, 0) << "some tokens were generated before the hang-up";
    ASSERT_LT(tokens, asked) << "the generation stopped early";
    std::string expected;
    for (std::int64_t i = 0; i < tokens; ++i) {
        expected += full[static_cast<std::size_t>(i)];
    }
    EXPECT_EQ(partial, expected) << "the partial text is what was generated, token for token";
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE request_id = '" + id + "'"), 1);
}

TEST(audit_e2e, a_deadline_the_api_enforced_is_stored_as_the_clients_timeout) {
    // The worker only hears "cancel"; the client was told `timeout`, and so is the audit.
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = start_api_worker_and_audit(c, db);
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    auto body = json_of(slow_mock_body("slower than its deadline", 400, 10));
    body["timeout_ms"] = 400;
    raw_stream s{port, "/api/generate", body.dump()};
    ASSERT_TRUE(s.read_to_end(10s)) << s.received();
    ASSERT_NE(s.received().find("\"timeout\""), std::string::npos) << s.received();
    const auto id = request_id_of(s);
    ASSERT_FALSE(id.empty()) << s.received();
    ASSERT_TRUE(merged_row_stored(db)) << c.logs().substr(0, 20000);
    EXPECT_EQ(db.scalar("SELECT status || '|' || error_code FROM responses WHERE request_id = '" + id + "'"),
              "error|timeout");
    EXPECT_NE(db.scalar("SELECT error_message FROM responses WHERE request_id = '" + id + "'").find("deadline"),
              std::string::npos);
    EXPECT_GT(db.count("SELECT completion_tokens FROM responses WHERE request_id = '" + id + "'"), 0)
        << "the worker's partial answer is kept";
}

TEST(audit_e2e, a_worker_killed_mid_stream_is_stored_as_worker_lost_whatever_the_retry_did) {
    // The request is redelivered to the other worker; the client is told `worker_lost`. Whether
    // the second attempt is cancelled or finishes first, the stored outcome is the client's.
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--worker-id", "w-a"});
    c.start_worker({"--worker-id", "w-b"});
    c.start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(worker_listed(port, "w-a", 30s) && worker_listed(port, "w-b", 30s)) << c.logs();
    raw_stream s{port, "/api/generate", slow_mock_body("tell me everything", 400, 25)};
    ASSERT_TRUE(s.read_until("event: token", 10s)) << s.received();
    const auto id = request_id_of(s);
    auto busy = busy_worker(port, 10s);
    ASSERT_TRUE(busy) << c.logs();
    c.workers()[*busy == "w-a" ? 0 : 1]->signal(SIGKILL);
    ASSERT_TRUE(s.read_to_end(10s)) << s.received();
    ASSERT_NE(s.received().find("worker_lost"), std::string::npos) << s.received();
    ASSERT_TRUE(merged_row_stored(db)) << c.logs().substr(0, 20000);
    EXPECT_EQ(db.scalar("SELECT status || '|' || error_code FROM responses WHERE request_id = '" + id + "'"),
              "error|worker_lost");
    EXPECT_NE(db.scalar("SELECT error_message FROM responses WHERE request_id = '" + id + "'").find(*busy),
              std::string::npos)
        << "the message names the lost worker";
}

TEST(audit_e2e, an_api_server_killed_mid_stream_is_stored_as_api_lost_and_its_delivered_answers_stay_ok) {
    // The worker's report of the cut stream says how far the worker got; its client saw the
    // connection drop. The killed server never confirms that answer, so once its confirmations
    // stop (--api-lost-after-ms) the audit stores api_lost. An answer it confirmed before the
    // kill, and one the other, live server delivered, stay ok.
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto doomed = c.start_api({"--delivery-confirm-ms", "100"});
    auto live = c.start_api({"--delivery-confirm-ms", "100"});
    c.start_worker();
    c.start_audit(db.url(), {"--batch-ms", "20", "--api-lost-after-ms", "1500"});
    ASSERT_TRUE(c.wait_for_model(doomed, "mock:latest") && c.wait_for_model(live, "mock:latest")) << c.logs();

    auto whole = [&](unsigned port, const std::string& prompt) {
        raw_stream s{port, "/api/generate", generate_body("mock", prompt, 3)};
        EXPECT_TRUE(s.read_to_end(10s)) << s.received();
        EXPECT_NE(s.received().find("event: done"), std::string::npos) << s.received();
        return request_id_of(s);
    };
    const auto delivered_before = whole(doomed, "answered before the kill");
    const auto delivered_live = whole(live, "answered by the live server");
    ASSERT_FALSE(delivered_before.empty());
    ASSERT_FALSE(delivered_live.empty());
    // Its confirmation is in the ledger before the kill (else it would be judged cut too).
    ASSERT_TRUE(wait_until(
        [&] { return count(db, "api_deliveries WHERE '" + delivered_before + "' = ANY (request_ids)") == 1; }, 15s))
        << c.logs().substr(0, 20000);

    raw_stream cut{doomed, "/api/generate", slow_mock_body("a long story the server dies in", 400, 25)};
    ASSERT_TRUE(cut.read_until("event: token", 10s)) << cut.received();
    const auto cut_id = request_id_of(cut);
    ASSERT_FALSE(cut_id.empty());
    c.apis()[0]->signal(SIGKILL);
    ASSERT_TRUE(cut.read_to_end(10s));
    ASSERT_EQ(cut.received().find("event: done"), std::string::npos) << "the client saw a cut stream";

    auto outcome_of_row = [&](const std::string& id) {
        return db.scalar("SELECT status || '|' || coalesce(error_code, '-') FROM responses WHERE request_id = '" + id +
                         "'");
    };
    ASSERT_TRUE(wait_until([&] { return count(db, "responses WHERE error_code = 'api_lost'") == 1; }, 30s))
        << db.scalar("SELECT string_agg(request_id || '=' || status, ' ') FROM responses") << "\n"
        << c.logs().substr(0, 20000);
    EXPECT_EQ(outcome_of_row(cut_id), "error|api_lost");
    EXPECT_EQ(outcome_of_row(delivered_before), "ok|-") << "confirmed before the kill";
    EXPECT_EQ(outcome_of_row(delivered_live), "ok|-") << "the live server is never judged";
    EXPECT_EQ(count(db, "responses"), 3) << "one row per request";
    EXPECT_EQ(count(db, "api_servers WHERE lost_at IS NOT NULL"), 1);
}

TEST(audit_e2e, sigterm_past_the_drain_timeout_ends_streams_as_shutting_down_and_stops_the_worker) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = start_api_worker_and_audit(c, db, {"--drain-timeout-ms", "300"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    constexpr int asked = 400;
    raw_stream s{port, "/api/generate", slow_mock_body("longer than the drain", asked, 25)};
    ASSERT_TRUE(s.read_until("event: token", 10s)) << s.received();
    const auto id = request_id_of(s);
    c.apis()[0]->signal(SIGTERM);
    ASSERT_TRUE(s.read_to_end(10s)) << s.received();
    EXPECT_NE(s.received().find("event: error"), std::string::npos) << s.received();
    EXPECT_NE(s.received().find("shutting_down"), std::string::npos) << s.received();
    EXPECT_EQ(c.apis()[0]->wait_exit(10s).value_or(-1), 0) << c.logs();
    ASSERT_TRUE(merged_row_stored(db)) << c.logs().substr(0, 20000);
    EXPECT_EQ(db.scalar("SELECT status || '|' || error_code FROM responses WHERE request_id = '" + id + "'"),
              "error|shutting_down");
    EXPECT_LT(db.count("SELECT completion_tokens FROM responses WHERE request_id = '" + id + "'"), asked)
        << "the worker stopped generating for the client that is gone";
}

TEST(audit_e2e, kill_9_mid_load_then_restart_stores_every_row_exactly_once) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--mock-token-delay-us", "0", "--concurrency", "128"});
    c.start_worker({"--mock-token-delay-us", "0", "--concurrency", "128"});
    auto& first = c.start_audit(db.url(), {"--batch-rows", "200", "--batch-ms", "20"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    constexpr int total = 2000;
    auto load = make_load(port, total, 0, 3);
    auto running = std::async(std::launch::async, [&load] { return run_load(load); });
    ASSERT_TRUE(wait_until([&] { return count(db, "requests") >= 300; }, 60s)) << c.logs().substr(0, 20000);
    first.signal(SIGKILL);
    ASSERT_TRUE(first.wait_exit(10s).has_value());
    auto at_kill = count(db, "requests");
    c.start_audit(db.url(), {"--batch-rows", "200", "--batch-ms", "20"});
    auto outcomes = running.get();
    ASSERT_TRUE(wait_until([&] { return count(db, "requests") == total && count(db, "responses") == total; }, 60s))
        << "requests " << count(db, "requests") << " responses " << count(db, "responses");
    EXPECT_LT(at_kill, total) << "the kill should land mid-load";
    expect_rows_match(db, outcomes);
}

/// scripts/pgctl (LLMPROXY_TEST_PGCTL, else the source tree's) with the env file of the running
/// test services (LLMPROXY_TEST_ENV_FILE); nullopt when that is not set.
std::optional<std::string> pgctl_command() {
    const char* env = std::getenv("LLMPROXY_TEST_ENV_FILE");
    if (env == nullptr || *env == '\0') {
        return std::nullopt;
    }
    const char* script = std::getenv("LLMPROXY_TEST_PGCTL");
    std::string pgctl = script != nullptr && *script != '\0' ? script : LLMPROXY_PGCTL;
    return "'" + pgctl + "' --env '" + env + "'";
}

TEST(audit_e2e, postgres_outage_pauses_ingest_without_loss_or_failed_streams) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    auto pgctl = pgctl_command();
    if (!pgctl) {
        GTEST_SKIP() << "LLMPROXY_TEST_ENV_FILE is not set (scripts/test sets it)";
    }
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto port = c.start_api();
    c.start_worker({"--mock-token-delay-us", "200"});
    c.start_worker({"--mock-token-delay-us", "200"});
    auto& audit = c.start_audit(db.url(), {"--batch-ms", "20"});
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();

    // Clients keep coming in waves for the whole outage and a little after it.
    std::atomic<bool> outage_over{false};
    std::atomic<int> waves_during_outage{0};
    std::atomic<bool> in_outage{false};
    auto running = std::async(std::launch::async, [&] {
        std::vector<outcome> all;
        int first = 0;
        while (!outage_over) {
            bool during = in_outage;
            auto part = run_load(make_load(port, 100, first, 0), 100);
            first += 100;
            all.insert(all.end(), part.begin(), part.end());
            if (during && in_outage) {
                ++waves_during_outage;
            }
        }
        auto tail = run_load(make_load(port, 100, first, 0), 100);
        all.insert(all.end(), tail.begin(), tail.end());
        return all;
    });
    ASSERT_TRUE(wait_until([&] { return count(db, "requests") >= 100; }, 60s)) << c.logs().substr(0, 20000);
    ASSERT_EQ(std::system((*pgctl + " stop").c_str()), 0);
    in_outage = true;
    // The scenario, not a synchronisation guess: PostgreSQL stays down for 20 s under load.
    std::this_thread::sleep_for(20s);
    in_outage = false;
    int started = std::system((*pgctl + " start").c_str());
    outage_over = true;
    auto outcomes = running.get();
    ASSERT_EQ(started, 0);
    EXPECT_GT(waves_during_outage.load(), 0) << "clients were served while PostgreSQL was down";
    auto n = static_cast<std::int64_t>(outcomes.size());
    ASSERT_TRUE(wait_until([&] { return count(db, "requests") == n && count(db, "responses") == n; }, 60s))
        << "requests " << count(db, "requests") << " responses " << count(db, "responses") << " of " << n;
    expect_rows_match(db, outcomes);
    auto log = audit.log();
    auto occurrences = [&log](std::string_view needle) {
        int k = 0;
        for (auto pos = log.find(needle); pos != std::string::npos; pos = log.find(needle, pos + 1)) {
            ++k;
        }
        return k;
    };
    EXPECT_EQ(occurrences("PostgreSQL unavailable"), 1) << "logged once per state change";
    EXPECT_EQ(occurrences("PostgreSQL available again"), 1);
}

TEST(audit_e2e, full_audit_queues_refuse_new_requests_with_503_and_lose_nothing_they_hold) {
    // No audit service running: the audit queues fill. Bounded (reject-publish), the next
    // request is refused at once instead of the queues growing into RabbitMQ's memory alarm;
    // what they hold is stored once the audit service runs, and requests pass again.
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    const std::vector<std::string> bound{"--audit-queue-max-length", "2"};
    auto port = c.start_api(bound);
    c.start_worker(bound);
    ASSERT_TRUE(c.wait_for_model(port, "mock:latest")) << c.logs();
    std::vector<std::string> ids;
    for (int i = 0; i < 2; ++i) {
        auto r = http_post(port, "/api/generate", generate_body("mock", "kept " + std::to_string(i), 3, false));
        ASSERT_EQ(r.status, 200u) << r.body;
        ids.push_back(json_of(r.body)["request_id"]);
    }
    auto refused = http_post(port, "/api/generate", generate_body("mock", "one too many", 3, false));
    EXPECT_EQ(refused.status, 503u) << refused.body;
    EXPECT_EQ(json_of(refused.body)["error"]["code"], "queue_full") << refused.body;

    auto& audit = c.start_audit(db.url(), {"--audit-queue-max-length", "2", "--batch-ms", "20"});
    const std::string kept = "request_id IN ('" + ids[0] + "', '" + ids[1] + "')";
    ASSERT_TRUE(wait_until(
        [&] { return count(db, "requests WHERE " + kept) == 2 && count(db, "responses WHERE " + kept) == 2; }, 30s))
        << audit.log();
    std::optional<std::string> later;
    ASSERT_TRUE(wait_until(
        [&] {
            auto r = http_post(port, "/api/generate", generate_body("mock", "after the backlog", 3, false));
            if (r.status == 200) {
                later = json_of(r.body)["request_id"];
            }
            return later.has_value();
        },
        30s))
        << "requests pass again once the audit drained its queues";
    ASSERT_TRUE(wait_until([&] { return count(db, "requests WHERE request_id = '" + *later + "'") == 1; }, 30s))
        << audit.log();
}

TEST(audit_e2e, malformed_message_is_dead_lettered_with_a_reason_and_ingest_carries_on) {
    LLMP_REQUIRE_BROKER();
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    cluster c{amqp_url};
    auto& audit = c.start_audit(db.url());
    broker::broker_config bcfg;
    bcfg.url = amqp_url;
    bcfg.prefix = c.prefix();
    broker::topology topo{c.prefix()};
    broker::publisher pub{bcfg, "audit e2e test publisher",
                          [&](broker::connection& conn) { return broker::declare_core(conn, topo, bcfg); }};
    ASSERT_TRUE(pub.start());
    auto publish = [&pub](broker::outgoing_message m) {
        auto done = std::make_shared<std::promise<broker::publish_status>>();
        auto fut = done->get_future();
        broker::publish_job job;
        job.msg = std::move(m);
        job.done = [done](broker::publish_status s) { done->set_value(s); };
        EXPECT_TRUE(pub.try_publish(std::move(job)));
        EXPECT_EQ(fut.wait_for(10s), std::future_status::ready);
        return fut.get();
    };
    broker::outgoing_message garbage;
    garbage.exchange = "";  // the default exchange: straight into the audit queue
    garbage.routing_key = topo.audit_requests_queue;
    garbage.props.message_id = "garbage-1";
    garbage.body = "\x00\xff not a request {";
    ASSERT_EQ(publish(garbage), broker::publish_status::confirmed);
    broker::outgoing_message bad_final;
    bad_final.exchange = topo.responses_exchange;
    bad_final.routing_key = "nobody.final";
    bad_final.props.correlation_id = "garbage-2";
    bad_final.body = "[]";
    ASSERT_EQ(publish(bad_final), broker::publish_status::confirmed);
    request_message good;
    good.request_id = "good-after-garbage";
    good.server_id = "nobody";
    good.model = "mock";
    good.received_at_ms = 1700000000000;
    broker::outgoing_message m;
    m.exchange = topo.requests_exchange;
    m.props.message_id = good.request_id;
    m.props.persistent = true;
    m.body = encode(good);
    ASSERT_EQ(publish(m), broker::publish_status::confirmed);
    ASSERT_TRUE(wait_until([&] { return count(db, "requests") == 1; }, 20s)) << audit.log();
    EXPECT_EQ(db.scalar("SELECT request_id FROM requests"), "good-after-garbage");

    // Both malformed messages wait in the dead-letter queue, each with its reason.
    auto conn = broker::connection::open(bcfg, "audit e2e dead-letter reader");
    ASSERT_TRUE(conn) << conn.error().message;
    ASSERT_TRUE(conn.value()->consume(topo.dead_queue, /*no_ack=*/true));
    std::map<std::string, broker::delivery> dead;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (dead.size() < 2 && std::chrono::steady_clock::now() < deadline) {
        auto ev = conn.value()->next_event(200ms);
        ASSERT_TRUE(ev) << ev.error().message;
        if (auto* d = std::get_if<broker::delivery>(&ev.value())) {
            auto id = !d->props.message_id.empty() ? d->props.message_id : d->props.correlation_id;
            dead[id] = std::move(*d);
        }
    }
    ASSERT_EQ(dead.size(), 2u) << audit.log();
    EXPECT_EQ(dead["garbage-1"].body, garbage.body);
    EXPECT_NE(broker::field_string(dead["garbage-1"].props.headers, "x-reason").find("not a JSON object"),
              std::string::npos);
    EXPECT_EQ(broker::field_string(dead["garbage-1"].props.headers, "x-original-routing-key"),
              topo.audit_requests_queue);
    EXPECT_FALSE(broker::field_string(dead["garbage-2"].props.headers, "x-reason").empty());
    EXPECT_NE(audit.log().find("dead-lettered"), std::string::npos);
    pub.stop();
}

}  // namespace
}  // namespace llmp::testing

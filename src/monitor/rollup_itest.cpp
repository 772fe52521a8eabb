// The rollups (pg migration 10) against the real PostgreSQL: what the wide-window endpoints read
// from them equals what the rows say — counts and token sums exactly, percentiles within
// latency_histogram's bound — across whole hours, whole minutes and the partial minutes at the
// edges, after a redelivery (ON CONFLICT DO NOTHING) and a merge (an UPDATE of the status); the
// error list from error_rollups (pg migration 33) likewise.

#include "common/clock.hpp"
#include "monitor/error_queries.hpp"
#include "monitor/key_budgets.hpp"
#include "monitor/key_usage_queries.hpp"
#include "monitor/latency_histogram.hpp"
#include "monitor/stats_queries.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <cmath>
#include <string>
#include <vector>

namespace llmp::monitor {
namespace {

using nlohmann::json;

// 3,000 requests over the last 3 h 10 min (one every ~3.8 s), with a response each but the
// newest 10; models alpha/beta (every 7th response names none: the request's counts), two
// workers, two routes, two keys and none, 1 in 9 errors, 1 in 11 cancelled.
constexpr std::string_view fill_sql = R"sql(
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt, key_id,
                      key_name)
SELECT 'r-' || i, now() - i * interval '3.8 seconds', 'api-1', 'native',
       CASE WHEN i % 2 = 0 THEN '/api/chat' ELSE '/api/generate' END, 'generate',
       CASE WHEN i % 3 = 0 THEN 'alpha' ELSE 'beta' END, true, 'p',
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'key-' || (i % 3) END, CASE WHEN i % 3 = 0 THEN NULL ELSE 'k' || (i % 3) END
FROM generate_series(0, 2999) AS i;
INSERT INTO responses (request_id, status, worker_id, model, prompt_tokens, completion_tokens, ttft_ms, duration_ms,
                       tokens_per_s, completed_at, key_id, key_name)
SELECT 'r-' || i, CASE WHEN i % 9 = 1 THEN 'error' WHEN i % 11 = 2 THEN 'cancelled' ELSE 'ok' END,
       'w-' || (i % 2), CASE WHEN i % 7 = 0 THEN '' WHEN i % 3 = 0 THEN 'alpha' ELSE 'beta' END,
       10 + i % 5, 20 + i % 13, 5 + (i * 37) % 400, 100 + (i * 7919) % 20000, 1 + i % 50,
       now() - i * interval '3.8 seconds' + interval '1 second',
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'key-' || (i % 3) END, CASE WHEN i % 3 = 0 THEN NULL ELSE 'k' || (i % 3) END
FROM generate_series(10, 2999) AS i;
)sql";

class rollups : public ::testing::Test {
protected:
    void SetUp() override {
        LLMP_REQUIRE_DATABASE();
        db_.emplace(db_url);
        conn_ = db_->connect();
        ASSERT_TRUE(pg::migrate(*conn_));
        ASSERT_TRUE(conn_->exec(fill_sql));
        // A redelivery changes nothing; a merge moves a response from ok to cancelled.
        ASSERT_TRUE(
            conn_->exec("INSERT INTO responses (request_id, status, completed_at) VALUES ('r-20', 'ok', now()) "
                        "ON CONFLICT DO NOTHING; UPDATE responses SET status = 'cancelled' WHERE request_id = 'r-30'"));
        // A window of 2 h ending 30 min ago: both of its edges fall among the rows, which stay
        // where they are however long the test takes.
        end_ms_ = db_->count("SELECT (extract(epoch FROM now() - interval '30 minutes') * 1000)::bigint");
    }
    std::string in_window(const std::string& column) {
        const auto end = "to_timestamp(" + std::to_string(end_ms_) + " / 1000.0)";
        return column + " > " + end + " - interval '2 hours' AND " + column + " <= " + end;
    }
    std::string exact(const std::string& sql) { return db_->scalar(sql); }
    std::int64_t count(const std::string& where) {
        return db_->count("SELECT count(*) FROM responses r WHERE " + in_window("completed_at") + " AND " + where);
    }

    std::optional<pg::testing::scratch_database> db_;
    std::unique_ptr<pg::connection> conn_;
    std::int64_t end_ms_ = 0;
    static constexpr std::int64_t w = 2 * 3600;
};

void expect_close(double got, double want, const std::string& what) {
    EXPECT_LE(std::abs(got - want), want * latency_histogram::max_relative_error + 1e-9)
        << what << ": got " << got << ", exact " << want;
}

TEST_F(rollups, overview_equals_the_rows_over_a_wide_window) {
    ASSERT_TRUE(reads_rollups(w));
    auto o = query_overview(*conn_, w, end_ms_);
    ASSERT_TRUE(o) << o.error().message;
    const auto& j = o.value();
    EXPECT_EQ(j["requests"], count("true"));
    EXPECT_EQ(j["errors"], count("status = 'error'"));
    EXPECT_EQ(j["cancelled"], count("status = 'cancelled'"));
    EXPECT_EQ(j["completion_tokens"],
              db_->count("SELECT sum(completion_tokens) FROM responses WHERE " + in_window("completed_at")));
    EXPECT_EQ(j["received"], db_->count("SELECT count(*) FROM requests WHERE " + in_window("received_at")));
    // Percentiles: the exact value of the same rank, within the bucket bound.
    for (auto [q, key] : {std::pair{0.5, "p50"}, std::pair{0.95, "p95"}, std::pair{0.99, "p99"}}) {
        auto want = std::stod(exact("SELECT percentile_disc(" + std::to_string(q) +
                                    ") WITHIN GROUP (ORDER BY duration_ms) FROM responses WHERE status = 'ok' AND " +
                                    in_window("completed_at")));
        expect_close(j["latency_ms"][key].get<double>(), want, std::string{"duration "} + key);
        auto ttft = std::stod(exact("SELECT percentile_disc(" + std::to_string(q) +
                                    ") WITHIN GROUP (ORDER BY ttft_ms) FROM responses WHERE status = 'ok' AND " +
                                    in_window("completed_at")));
        expect_close(j["ttft_ms"][key].get<double>(), ttft, std::string{"ttft "} + key);
    }
    auto mean_tps = std::stod(
        exact("SELECT avg(tokens_per_s) FROM responses WHERE status = 'ok' AND " + in_window("completed_at")));
    EXPECT_NEAR(j["mean_generation_tokens_per_s"].get<double>(), mean_tps, 1e-6);
}

TEST_F(rollups, models_workers_routes_keys_and_timeseries_equal_the_rows) {
    auto m = query_models(*conn_, w, end_ms_);
    ASSERT_TRUE(m) << m.error().message;
    std::map<std::string, std::int64_t> by_model;
    for (const auto& x : m.value()["models"]) {
        by_model[x["model"].get<std::string>()] = x["requests"].get<std::int64_t>();
    }
    // A response without a model counts for its request's.
    EXPECT_EQ(by_model["alpha:latest"],
              count("(SELECT q.model FROM requests q WHERE q.request_id = r.request_id) = 'alpha'"));
    EXPECT_EQ(by_model["beta:latest"],
              count("(SELECT q.model FROM requests q WHERE q.request_id = r.request_id) = 'beta'"));

    auto wk = query_worker_totals(*conn_, w, end_ms_);
    ASSERT_TRUE(wk) << wk.error().message;
    for (const auto& x : wk.value()["workers"]) {
        auto id = x["worker_id"].get<std::string>();
        EXPECT_EQ(x["window"]["requests"], count("worker_id = '" + id + "'")) << id;
        auto p50 =
            std::stod(exact("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) FROM responses "
                            "WHERE status = 'ok' AND worker_id = '" +
                            id + "' AND " + in_window("completed_at")));
        ASSERT_TRUE(x["window"]["latency_p50_ms"].is_number()) << id;
        expect_close(x["window"]["latency_p50_ms"].get<double>(), p50, id + " duration p50");
    }

    auto e = query_errors(*conn_, w, end_ms_);
    ASSERT_TRUE(e) << e.error().message;
    for (const auto& x : e.value()["routes"]) {
        auto route = x["route"].get<std::string>();
        EXPECT_EQ(x["requests"],
                  count("(SELECT q.route FROM requests q WHERE q.request_id = r.request_id) = '" + route + "'"));
    }

    // Keys: no end of its own (the window ends now), so a window holding every row.
    auto k = query_key_usage(*conn_, 4 * 3600);
    ASSERT_TRUE(k) << k.error().message;
    ASSERT_EQ(k.value()["keys"].size(), 3u) << k.value().dump();
    for (const auto& x : k.value()["keys"]) {
        std::string cond =
            x["key_id"].is_null() ? "key_id IS NULL" : "key_id = '" + x["key_id"].get<std::string>() + "'";
        EXPECT_EQ(x["requests"], db_->count("SELECT count(*) FROM responses WHERE " + cond)) << cond;
        EXPECT_EQ(x["received"], db_->count("SELECT count(*) FROM requests WHERE " + cond)) << cond;
    }

    // Buckets of 10 minutes from minute rows (and an hourly series from hour rows): their sum
    // is the window's requests in whole buckets.
    for (std::int64_t bucket : {600, 3600}) {
        auto ts = query_timeseries(*conn_, w, bucket, end_ms_);
        ASSERT_TRUE(ts) << ts.error().message;
        std::int64_t sum = 0;
        for (const auto& p : ts.value()["points"]) {
            sum += p["requests"].get<std::int64_t>();
        }
        EXPECT_EQ(sum, count("true")) << "bucket " << bucket;
    }
}

// The error list (route × status × code: count, latest) as the rows say it, over `window_s`
// ending at `end_ms`, one line per group, and the same lines from query_errors' answer.
std::vector<std::string> errors_of_rows(pg::testing::scratch_database& db, std::int64_t window_s, std::int64_t end_ms,
                                        bool with_last) {
    const auto end = "to_timestamp(" + std::to_string(end_ms) + " / 1000.0)";
    const std::string last = with_last ? " || '|' || (extract(epoch FROM max(r.completed_at)) * 1000)::bigint" : "";
    auto lines = db.scalar(
        "SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT coalesce(q.route, '?') || '|' || "
        "r.status || '|' || coalesce(r.error_code, '-') || '|' || count(*)" +
        last +
        " AS x FROM responses r LEFT JOIN requests q USING (request_id) WHERE r.status <> 'ok'"
        " AND r.completed_at > " +
        end + " - make_interval(secs => " + std::to_string(window_s) + ") AND r.completed_at <= " + end +
        " GROUP BY q.route, r.status, r.error_code) g");
    std::vector<std::string> out;
    for (std::size_t at = 0; at < lines.size();) {
        auto comma = lines.find(',', at);
        out.push_back(lines.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
        at = comma == std::string::npos ? lines.size() : comma + 1;
    }
    return out;
}

std::vector<std::string> errors_of_answer(const json& answer, bool with_last) {
    std::vector<std::string> out;
    for (const auto& x : answer["errors"]) {
        std::string line = x["route"].get<std::string>() + "|" + x["status"].get<std::string>() + "|" +
                           (x["code"].is_null() ? std::string{"-"} : x["code"].get<std::string>()) + "|" +
                           std::to_string(x["count"].get<std::int64_t>());
        if (with_last) {
            line += "|" + std::to_string(x["last_ms"].get<std::int64_t>());
        }
        out.push_back(std::move(line));
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST_F(rollups, the_error_list_equals_the_rows_over_a_wide_window_and_a_narrow_one) {
    // Errors with codes whose responses carry their request's time (the partition lookup), one
    // whose request is missing ("?"), and an UPDATE moving ok responses to an error code (the
    // rollup's sign: -1 from ok, +1 to the code).
    ASSERT_TRUE(conn_->exec(R"sql(
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)
SELECT 'e-' || i, now() - interval '40 minutes' - i * interval '97 seconds', 'api-1', 'openai', '/v1/chat/completions',
       'chat', 'alpha', false FROM generate_series(1, 60) AS i;
INSERT INTO responses (request_id, status, worker_id, model, completed_at, error_code, request_received_at)
SELECT 'e-' || i, CASE WHEN i % 4 = 0 THEN 'cancelled' ELSE 'error' END, 'w-0', 'alpha',
       now() - interval '40 minutes' - i * interval '97 seconds' + interval '2 seconds',
       (ARRAY['timeout', 'upstream_error', NULL])[1 + i % 3], now() - interval '40 minutes' - i * interval '97 seconds'
FROM generate_series(1, 60) AS i;
INSERT INTO responses (request_id, status, completed_at, error_code) VALUES ('orphan', 'error', now() - interval '1 hour', 'lost');
UPDATE responses SET status = 'error', error_code = 'late' WHERE request_id IN ('r-500', 'r-501', 'r-1200');
)sql"));
    for (std::int64_t window : {w, std::int64_t{1800}}) {
        auto e = query_errors(*conn_, window, end_ms_);
        ASSERT_TRUE(e) << e.error().message;
        auto want = errors_of_rows(*db_, window, end_ms_, true);
        EXPECT_GT(want.size(), 4u);
        EXPECT_EQ(errors_of_answer(e.value(), true), want) << "window " << window;
    }
    // Errors merged since into ok or another code: the counts still equal the rows'.
    ASSERT_TRUE(
        conn_->exec("UPDATE responses SET status = 'ok', error_code = NULL WHERE request_id IN ('e-5', 'e-6', "
                    "'r-1000'); UPDATE responses SET error_code = 'renamed' WHERE request_id = 'e-9'"));
    auto e = query_errors(*conn_, w, end_ms_);
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(errors_of_answer(e.value(), false), errors_of_rows(*db_, w, end_ms_, false));
}

TEST_F(rollups, the_tokens_each_key_used_equal_the_rows_over_hours_minutes_and_edges) {
    // Bounds off the minute and the hour, inside the rows: whole hours, whole minutes and both
    // edges row by row, for the "month" and the "today" of the keys page.
    auto now = conn_->query("SELECT (extract(epoch FROM now()) * 1000)::bigint");
    ASSERT_TRUE(now);
    const std::int64_t now_ms = std::stoll(now.value().rows.at(0).at(0).value());
    const used_bounds b{
        .day_from_ms = now_ms - 3'787'250, .month_from_ms = now_ms - 9'433'500, .to_ms = now_ms - 660'500};
    auto used = query_tokens_used(*conn_, b);
    ASSERT_TRUE(used) << used.error().message;
    auto exact = conn_->query(
        "SELECT key_id, coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE completed_at > "
        "to_timestamp($1::float8 / 1000)), 0), sum(prompt_tokens + completion_tokens) FROM responses WHERE key_id IS "
        "NOT NULL AND completed_at > to_timestamp($2::float8 / 1000) AND completed_at <= to_timestamp($3::float8 / "
        "1000) GROUP BY 1",
        {std::to_string(b.day_from_ms), std::to_string(b.month_from_ms), std::to_string(b.to_ms)});
    ASSERT_TRUE(exact);
    ASSERT_EQ(exact.value().rows.size(), 2u) << "two keys used tokens";
    EXPECT_EQ(used.value().size(), 2u) << used.value().dump();
    for (const auto& row : exact.value().rows) {
        const auto& u = used.value()[row.at(0).value()];
        EXPECT_EQ(u.value("today", std::int64_t{-1}), std::stoll(row.at(1).value())) << row.at(0).value();
        EXPECT_EQ(u.value("month", std::int64_t{-1}), std::stoll(row.at(2).value())) << row.at(0).value();
        EXPECT_GT(u.value("today", std::int64_t{0}), 0);
        EXPECT_GT(u.value("month", std::int64_t{0}), u.value("today", std::int64_t{0}));
    }
}

TEST_F(rollups, the_daily_usage_up_to_now_ends_when_it_runs_again) {
    // shared_reads runs a kept job again to rewarm it: an answer "up to now" must end at that
    // run's now, not at the first caller's.
    auto first = query_daily_usage(*conn_, std::nullopt, std::nullopt);
    ASSERT_TRUE(first) << first.error().message;
    const auto first_to = first.value()["to_ms"].get<std::int64_t>();
    while (unix_ms() <= first_to) {
        std::this_thread::yield();
    }
    auto again = query_daily_usage(*conn_, std::nullopt, std::nullopt);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_GT(again.value()["to_ms"].get<std::int64_t>(), first_to);
    auto fixed = query_daily_usage(*conn_, std::nullopt, std::string{"2026-01-01"});
    ASSERT_TRUE(fixed) << fixed.error().message;
    EXPECT_EQ(fixed.value()["to_ms"], 1'767'225'600'000) << "a given end stays";
}

TEST(latency_histogram, reads_a_percentile_within_its_bound) {
    latency_histogram h;
    std::vector<double> values;
    for (int i = 1; i <= 1000; ++i) {
        double v = 3.0 + i * i * 0.02;
        values.push_back(v);
        h.add(static_cast<int>(std::ceil(8 * std::log2(v))), 1);
    }
    EXPECT_EQ(h.total(), 1000);
    for (double q : {0.0, 0.5, 0.9, 0.99, 1.0}) {
        double want = values[static_cast<std::size_t>(std::llround(q * 999))];
        expect_close(h.quantile(q), want, "q " + std::to_string(q));
    }
    EXPECT_EQ(latency_histogram{}.quantile(0.5), 0);
}

}  // namespace
}  // namespace llmp::monitor

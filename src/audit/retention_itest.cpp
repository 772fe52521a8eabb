// Retention against the real PostgreSQL (scripts/test starts one and sets
// LLMPROXY_TEST_DATABASE_URL): old rows go, recent rows and the rollups stay, and the audit
// writer's inserts are never blocked by a pass. Each test works in a scratch database of its own.

#include "audit/retention.hpp"

#include "audit/partitions.hpp"
#include "pg/connection.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace llmp::audit {
namespace {

using namespace std::chrono_literals;
using pg::testing::scratch_database;

/// `n` requests and their responses received `days_ago` days ago (ids "<tag>-<i>"), a chunk each.
std::string rows_sql(const std::string& tag, int n, double days_ago) {
    const std::string at = "now() - make_interval(secs => " + std::to_string(days_ago * 86400) + ")";
    const std::string ids = "generate_series(1, " + std::to_string(n) + ") AS i";
    return "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
           " SELECT '" +
           tag + "-' || i, " + at + ", 'api-1', 'native', '/api/generate', 'generate', 'm', true, 'p' FROM " + ids +
           "; INSERT INTO responses (request_id, status, worker_id, model, text, prompt_tokens, completion_tokens,"
           " duration_ms, completed_at) SELECT '" +
           tag + "-' || i, 'ok', 'w1', 'm', 'answer', 3, 5, 40, " + at + " + interval '1 second' FROM " + ids +
           "; INSERT INTO response_chunks (request_id, attempt, seq, received_at, text) SELECT '" + tag +
           "-' || i, 0, 0, " + at + ", 'a' FROM " + ids;
}

bool go_on() {
    return true;
}

class retention : public ::testing::Test {
protected:
    void SetUp() override {
        auto url = pg::testing::test_database_url();
        if (!url) {
            GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
        }
        db_ = std::make_unique<scratch_database>(*url);
        c_ = db_->connect();
        auto m = pg::migrate(*c_);
        ASSERT_TRUE(m) << m.error().message;
    }
    std::unique_ptr<scratch_database> db_;
    std::unique_ptr<pg::connection> c_;
};

TEST_F(retention, deletes_rows_past_the_retention_keeps_recent_rows_and_every_rollup) {
    ASSERT_TRUE(c_->exec(rows_sql("old", 120, 10)));
    ASSERT_TRUE(c_->exec(rows_sql("new", 30, 1)));
    const auto rollup_n = db_->scalar("SELECT sum(n) FROM response_rollups WHERE grain = 'hour'");
    const auto received = db_->scalar("SELECT sum(n) FROM request_rollups WHERE grain = 'minute'");
    ASSERT_EQ(rollup_n, "150");

    // Batches smaller than the rows to delete: the pass loops until none is left.
    auto pass = apply_retention(*c_, {7, 0, 50}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().requests, 120);
    EXPECT_EQ(pass.value().responses, 120);
    EXPECT_EQ(pass.value().chunks, 120);
    EXPECT_EQ(pass.value().search_rows, 120);  // still queued for the text search
    EXPECT_EQ(pass.value().rollup_rows, 0);

    EXPECT_EQ(db_->count("SELECT count(*) FROM requests WHERE request_id LIKE 'old-%'"), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM responses WHERE request_id LIKE 'old-%'"), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM response_chunks WHERE request_id LIKE 'old-%'"), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM requests WHERE request_id LIKE 'new-%'"), 30);
    EXPECT_EQ(db_->count("SELECT count(*) FROM responses WHERE request_id LIKE 'new-%'"), 30);
    EXPECT_EQ(db_->count("SELECT count(*) FROM response_chunks WHERE request_id LIKE 'new-%'"), 30);
    // The rollups still count the deleted rows, minute and hour alike.
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM response_rollups WHERE grain = 'hour'"), rollup_n);
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM response_rollups WHERE grain = 'minute'"), rollup_n);
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM request_rollups WHERE grain = 'minute'"), received);
    // What the dashboard shows.
    EXPECT_EQ(db_->scalar("SELECT request_days || ' ' || rollup_days || ' ' || last_deleted || ' ' || "
                          "(last_run_at IS NOT NULL) FROM audit_retention"),
              "7 0 480 true");

    // A second pass finds nothing.
    auto again = apply_retention(*c_, {7, 0, 50}, go_on);
    ASSERT_TRUE(again);
    EXPECT_EQ(again.value().total(), 0);
}

TEST_F(retention, drops_minute_rollups_past_their_own_retention_and_keeps_the_hours) {
    ASSERT_TRUE(c_->exec(rows_sql("ancient", 20, 40)));
    ASSERT_TRUE(c_->exec(rows_sql("old", 20, 10)));
    ASSERT_TRUE(c_->exec(rows_sql("new", 20, 1)));
    auto pass = apply_retention(*c_, {7, 30, 1000}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().requests, 40);
    // One minute row each in response_rollups, request_rollups and response_series for the
    // ancient rows.
    EXPECT_EQ(pass.value().rollup_rows, 3);
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM response_series WHERE grain = 'minute'"), "40");
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM response_series WHERE grain = 'hour'"), "60");
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM response_rollups WHERE grain = 'minute'"), "40");
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM response_rollups WHERE grain = 'hour'"), "60");
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM request_rollups WHERE grain = 'hour'"), "60");
}

TEST_F(retention, drops_the_error_rollups_minutes_past_the_rollup_retention_and_keeps_the_hours) {
    // Errors 40 and 10 days old (pg migration 33 counts them in error_rollups).
    ASSERT_TRUE(c_->exec(rows_sql("ancient", 6, 40) + "; " + rows_sql("old", 4, 10) +
                         "; UPDATE responses SET status = 'error', error_code = 'timeout'"));
    ASSERT_EQ(db_->scalar("SELECT sum(n) FROM error_rollups WHERE grain = 'minute'"), "10");
    auto pass = apply_retention(*c_, {7, 30, 1000}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM error_rollups WHERE grain = 'minute'"), "4");
    EXPECT_EQ(db_->scalar("SELECT sum(n) FROM error_rollups WHERE grain = 'hour'"), "10");
}

TEST_F(retention, removes_pending_requests_past_the_retention_and_those_answered_since) {
    // Unanswered requests old and new (pg migration 27 keeps them in pending_requests), and a
    // row a concurrent store could leave behind: its response is there.
    ASSERT_TRUE(c_->exec(rows_sql("old", 5, 10)));
    ASSERT_TRUE(
        c_->exec("INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)"
                 " SELECT 'lost-' || i, now() - interval '10 days', 'a', 'native', '/api/chat', 'chat', 'm', true"
                 " FROM generate_series(1, 4) AS i;"
                 "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)"
                 " VALUES ('flying', now(), 'a', 'native', '/api/chat', 'chat', 'm', true);"
                 "INSERT INTO pending_requests VALUES ('old-1', now() - interval '10 days')"));
    ASSERT_EQ(db_->count("SELECT count(*) FROM pending_requests"), 6);
    auto pass = apply_retention(*c_, {7, 0, 1000}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().pending, 5);
    EXPECT_EQ(db_->scalar("SELECT string_agg(request_id, ',') FROM pending_requests"), "flying");
    // With the history kept forever, the answered row still goes.
    ASSERT_TRUE(
        c_->exec("INSERT INTO pending_requests VALUES ('old-x', now()); INSERT INTO responses (request_id, "
                 "status, completed_at) VALUES ('old-x', 'ok', now() - interval '1 day');"
                 "INSERT INTO pending_requests VALUES ('old-x', now())"));
    auto keep = apply_retention(*c_, {0, 0, 1000}, go_on);
    ASSERT_TRUE(keep) << keep.error().message;
    EXPECT_EQ(keep.value().pending, 1);
    EXPECT_EQ(db_->scalar("SELECT string_agg(request_id, ',') FROM pending_requests"), "flying");
}

TEST_F(retention, keeps_everything_at_zero_days_and_says_so) {
    ASSERT_TRUE(c_->exec(rows_sql("old", 10, 400)));
    auto pass = apply_retention(*c_, {0, 0, 1000}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().total(), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM requests"), 10);
    EXPECT_EQ(db_->scalar("SELECT request_days || ' ' || rollup_days FROM audit_retention"), "0 0");
}

TEST_F(retention, a_pass_in_progress_never_blocks_the_ingest) {
    // The pass's deletes are held uncommitted (one transaction around the whole pass, longer than
    // any real batch) while another connection stores a batch as the audit writer does: new
    // requests and responses (rollup triggers and all), and a worker's report merged into an API
    // verdict. A lock that made the ingest wait would run into the statement timeout.
    ASSERT_TRUE(c_->exec(rows_sql("old", 200, 10)));
    ASSERT_TRUE(c_->exec(rows_sql("live", 5, 0)));
    // The days ahead exist already (their creation is DDL of its own, committed at once): the
    // pass held open below is the deletes alone.
    ASSERT_TRUE(create_day_partitions(*c_, "now", 3));
    ASSERT_TRUE(c_->exec("BEGIN"));
    auto pass = apply_retention(*c_, {7, 30, 50}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().requests, 200);

    auto ingest = db_->connect();
    ASSERT_TRUE(ingest->exec("SET statement_timeout = '5s'"));
    auto t0 = std::chrono::steady_clock::now();
    auto stored = ingest->exec(rows_sql("fresh", 50, 0));
    EXPECT_TRUE(stored) << stored.error().message;
    auto merged = ingest->exec("UPDATE responses SET status = 'error' WHERE request_id = 'live-1'");
    EXPECT_TRUE(merged) << merged.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);

    ASSERT_TRUE(c_->exec("COMMIT"));
    EXPECT_EQ(db_->count("SELECT count(*) FROM requests"), 55);
    EXPECT_EQ(db_->count("SELECT count(*) FROM responses WHERE request_id LIKE 'fresh-%'"), 50);
}

TEST_F(retention, creates_the_days_ahead_and_skips_a_day_whose_rows_the_default_partition_holds_already) {
    // A row five days ahead, before any partition of that day: the DEFAULT partition keeps it,
    // and that day of requests cannot be created any more; the other days still are.
    ASSERT_TRUE(
        c_->exec("INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)"
                 " VALUES ('ahead', date_trunc('day', now(), 'UTC') + interval '5 days 1 hour', 'a', 'native',"
                 " '/api/chat', 'chat', 'm', true)"));
    const auto from = db_->scalar("SELECT (date_trunc('day', now(), 'UTC') + interval '5 days')::text");
    auto made = create_day_partitions(*c_, from, 1);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(made.value(), 3) << "days 5 and 6 of responses, day 6 of requests";
    EXPECT_EQ(db_->scalar("SELECT tableoid::regclass::text FROM requests WHERE request_id = 'ahead'"),
              "requests_default");
    auto again = create_day_partitions(*c_, from, 1);
    ASSERT_TRUE(again);
    EXPECT_EQ(again.value(), 0) << "created once";
    // A new day keeps the parent's compression of its text columns (pg migration 34: ATTACH
    // copies none of it).
    EXPECT_EQ(db_->count("SELECT count(*) FROM pg_attribute a JOIN pg_attribute p ON p.attrelid = 'responses'::regclass"
                         " AND p.attname = a.attname WHERE a.attrelid = to_regclass('responses_p' || to_char("
                         "(date_trunc('day', now(), 'UTC') + interval '6 days') AT TIME ZONE 'UTC', 'YYYYMMDD')) AND "
                         "a.attname = 'text'"
                         " AND a.attcompression = p.attcompression"),
              1);
}

TEST_F(retention, stops_between_batches_when_asked) {
    ASSERT_TRUE(c_->exec(rows_sql("old", 100, 10)));
    int batches = 0;
    auto pass = apply_retention(*c_, {7, 0, 10}, [&batches] { return ++batches <= 2; });
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().chunks, 20);
    EXPECT_EQ(db_->count("SELECT count(*) FROM requests"), 100);
}

TEST_F(retention, the_job_runs_passes_on_its_own_connection_until_stopped) {
    ASSERT_TRUE(c_->exec(rows_sql("old", 30, 10)));
    ASSERT_TRUE(c_->exec(rows_sql("new", 3, 0)));
    retention_job job{db_->url(), 5, {7, 0, 10}, 100ms};
    job.start();
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (db_->count("SELECT count(*) FROM requests") != 3 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    job.stop();
    EXPECT_EQ(db_->count("SELECT count(*) FROM requests"), 3);
    EXPECT_EQ(db_->count("SELECT count(*) FROM responses"), 3);
    EXPECT_EQ(db_->scalar("SELECT request_days FROM audit_retention"), "7");
}

}  // namespace
}  // namespace llmp::audit

// The migrations against the real PostgreSQL (scripts/test starts one and sets
// LLMPROXY_TEST_DATABASE_URL). Each test works in a scratch database of its own.

#include "pg/migrations.hpp"

#include "pg/connection.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace llmp::pg {
namespace {

using testing::scratch_database;

TEST(migrations, are_idempotent) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    auto first = migrate(*c);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first.value(), static_cast<int>(all_migrations().size()));
    auto again = migrate(*c);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again.value(), 0);
    EXPECT_EQ(db.count("SELECT count(*) FROM schema_migrations"), static_cast<std::int64_t>(all_migrations().size()));
    for (const char* t : {"requests", "responses", "workers", "response_chunks", "api_keys"}) {
        EXPECT_EQ(db.scalar(std::string{"SELECT to_regclass('"} + t + "') IS NOT NULL"), "t") << t;
    }
    EXPECT_GE(db.count("SELECT count(*) FROM pg_indexes WHERE tablename = 'responses'"), 5);
}

TEST(migrations, a_database_at_version_2_loses_the_trigram_index_keeps_its_rows_and_gains_reported_by) {
    // An operator's database from before migration 3: rebuild version 2's state, then migrate.
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(migrate(*c));
    ASSERT_TRUE(
        c->exec("DELETE FROM schema_migrations WHERE version >= 3;"
                "ALTER TABLE responses DROP COLUMN reported_by;"
                "DROP TABLE api_keys;"
                "CREATE INDEX requests_received_at_idx ON requests (received_at);"
                "CREATE INDEX requests_search_trgm_idx ON requests USING gin "
                "((coalesce(prompt, '') || ' ' || coalesce(messages::text, '')) gin_trgm_ops);"
                "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model,"
                " stream, prompt) VALUES ('old-1', now(), 'api-1', 'native', '/api/generate', 'generate',"
                " 'mock', true, 'kept across the upgrade');"
                "INSERT INTO responses (request_id, status, text, completed_at)"
                " VALUES ('old-1', 'ok', 'an answer from before', now())"));
    auto r = migrate(*c);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), static_cast<int>(all_migrations().size()) - 2);
    EXPECT_EQ(db.count("SELECT count(*) FROM pg_indexes WHERE indexname IN "
                       "('requests_search_trgm_idx', 'requests_received_at_idx')"),
              0);
    EXPECT_EQ(db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 'requests_received_at_request_id_idx'"), 1);
    EXPECT_EQ(db.scalar("SELECT prompt FROM requests WHERE request_id = 'old-1'"), "kept across the upgrade");
    // Migration 4: a stored response was reported by its worker.
    EXPECT_EQ(db.scalar("SELECT text || ' / ' || reported_by FROM responses WHERE request_id = 'old-1'"),
              "an answer from before / worker");
}

TEST(migrations, a_database_at_version_8_with_rows_gets_rollups_of_them) {
    // Migration 10 (issue 19) rolls up the responses and requests already stored, then keeps
    // the rollups by triggers: rebuild version 8's state with rows in it, then migrate.
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(migrate(*c));
    ASSERT_TRUE(c->exec(
        "DELETE FROM schema_migrations WHERE version >= 10;"
        "DROP TABLE response_rollups, request_rollups;"
        "DROP TRIGGER responses_rollup_insert ON responses; DROP TRIGGER responses_rollup_update ON responses;"
        "DROP TRIGGER requests_rollup_insert ON requests;"
        "DROP FUNCTION llmp_rollup_responses(), llmp_rollup_requests(), llmp_rollup_sql(text),"
        " llmp_request_rollup_sql(text), llmp_hist_merge(bigint[], bigint[]), llmp_latency_bucket(double precision);"
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
        " SELECT 'old-' || i, now() - i * interval '1 minute', 'api-1', 'native', '/api/generate', 'generate',"
        " 'mock', true, 'p' FROM generate_series(1, 300) AS i;"
        "INSERT INTO responses (request_id, status, model, worker_id, duration_ms, completion_tokens, completed_at)"
        " SELECT 'old-' || i, CASE WHEN i % 10 = 0 THEN 'error' ELSE 'ok' END, 'mock', 'w-1', 100 + i, 2,"
        " now() - i * interval '1 minute' + interval '5 seconds' FROM generate_series(1, 290) AS i"));
    auto r = migrate(*c);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 300) << "no row lost";
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 290);
    for (const char* grain : {"minute", "hour"}) {
        const std::string g = std::string{"grain = '"} + grain + "'";
        EXPECT_EQ(db.count("SELECT sum(n) FROM response_rollups WHERE " + g), 290) << grain;
        EXPECT_EQ(
            db.count("SELECT sum(n) FROM response_rollups WHERE status = 'error' AND route = '/api/generate' AND " + g),
            29)
            << grain;
        EXPECT_EQ(db.count("SELECT sum(completion_tokens) FROM response_rollups WHERE " + g), 580) << grain;
        EXPECT_EQ(db.count("SELECT sum(n) FROM request_rollups WHERE " + g), 300) << grain;
    }
    // And from now on the triggers keep them.
    ASSERT_TRUE(c->exec("INSERT INTO responses (request_id, status, completed_at) VALUES ('old-291', 'ok', now())"));
    EXPECT_EQ(db.count("SELECT sum(n) FROM response_rollups WHERE grain = 'hour'"), 291);
}

TEST(migrations, concurrent_migrators_apply_each_version_once) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    std::vector<std::thread> ts;
    std::atomic<int> applied{0};
    std::atomic<int> failures{0};
    for (int i = 0; i < 4; ++i) {
        ts.emplace_back([&] {
            auto c = db.connect();
            auto r = migrate(*c);
            r ? applied += r.value() : ++failures;
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(applied.load(), static_cast<int>(all_migrations().size()));
}

}  // namespace
}  // namespace llmp::pg

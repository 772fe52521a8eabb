// The migrations against the real PostgreSQL (scripts/test starts one and sets
// LLMPROXY_TEST_DATABASE_URL). Each test works in a scratch database of its own.

#include "pg/migrations.hpp"

#include "pg/connection.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace llmp::pg {
namespace {

using testing::scratch_database;

// What migration 33 creates (its triggers replace those of migrations 10, 27 and 28), dropped
// to rebuild an older version's state.
constexpr std::string_view drop_v33 =
    "DROP TABLE error_rollups;"
    "DROP TRIGGER requests_stored_insert ON requests; DROP TRIGGER responses_stored_insert ON responses;"
    "DROP TRIGGER responses_stored_update ON responses;"
    "DROP FUNCTION llmp_requests_stored(), llmp_responses_stored(), llmp_responses_stored_sql(text, text);";

// The triggers of migrations 10, 27 and 28 as migration 29 left them, which migration 33
// replaces: recreated with its objects dropped, to rebuild a version's state from before it.
constexpr std::string_view v29_triggers =
    "CREATE TRIGGER requests_rollup_insert AFTER INSERT ON requests REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_requests();"
    "CREATE TRIGGER requests_pending_insert AFTER INSERT ON requests REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_pending_add();"
    "CREATE TRIGGER requests_search_enqueue AFTER INSERT ON requests REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_search_enqueue();"
    "CREATE TRIGGER responses_rollup_insert AFTER INSERT ON responses REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();"
    "CREATE TRIGGER responses_rollup_update AFTER UPDATE ON responses REFERENCING OLD TABLE AS llmp_old_rows"
    " NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();"
    "CREATE TRIGGER responses_series_insert AFTER INSERT ON responses REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_series_responses();"
    "CREATE TRIGGER responses_series_update AFTER UPDATE ON responses REFERENCING OLD TABLE AS llmp_old_rows"
    " NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_series_responses();"
    "CREATE TRIGGER responses_pending_insert AFTER INSERT ON responses REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_pending_remove();";

// The unique keys migration 38 dropped, back: the state of any version before it (the older
// migrations' statements, run again, rely on them).
constexpr std::string_view undo_v38 =
    "DROP INDEX pending_requests_request_id_idx;"
    "ALTER TABLE pending_requests ADD PRIMARY KEY (request_id);"
    "ALTER TABLE search_backlog ADD PRIMARY KEY (request_id);";

// Migration 10's triggers alone (the state before migration 27).
constexpr std::string_view v10_triggers =
    "CREATE TRIGGER requests_rollup_insert AFTER INSERT ON requests REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_requests();"
    "CREATE TRIGGER responses_rollup_insert AFTER INSERT ON responses REFERENCING NEW TABLE AS llmp_new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();"
    "CREATE TRIGGER responses_rollup_update AFTER UPDATE ON responses REFERENCING OLD TABLE AS llmp_old_rows"
    " NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();";

// What migrations 27 and 28 create, dropped to rebuild an older version's state (their
// triggers only before migration 33 has run).
constexpr std::string_view drop_v27_v28 =
    "DROP TABLE pending_requests, response_series, search_backlog, request_search;"
    "DROP TRIGGER IF EXISTS requests_pending_insert ON requests;"
    "DROP TRIGGER IF EXISTS responses_pending_insert ON responses;"
    "DROP TRIGGER IF EXISTS responses_series_insert ON responses;"
    "DROP TRIGGER IF EXISTS responses_series_update ON responses;"
    "DROP TRIGGER IF EXISTS requests_search_enqueue ON requests;"
    "DROP FUNCTION llmp_pending_add(), llmp_pending_remove(), llmp_series_responses(), llmp_series_sql(text),"
    " llmp_search_enqueue();";

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
    // The key, (completed_at), (worker_id, completed_at), (status, completed_at): migration 34
    // dropped (model, completed_at) and (key_id, completed_at).
    EXPECT_GE(db.count("SELECT count(*) FROM pg_indexes WHERE tablename = 'responses'"), 4);
}

TEST(migrations, a_database_at_version_2_loses_the_trigram_index_keeps_its_rows_and_gains_reported_by) {
    // An operator's database from before migration 3: rebuild version 2's state, then migrate.
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(migrate(*c));
    ASSERT_TRUE(c->exec("DELETE FROM schema_migrations WHERE version >= 3;" + std::string{undo_v38} +
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
    // The keyset index of migration 2 is the partitioned table's key since migration 29.
    EXPECT_EQ(db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 'requests_key'"
                       " AND indexdef LIKE '%(received_at, request_id)'"),
              1);
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
        "DELETE FROM schema_migrations WHERE version >= 10;" + std::string{drop_v33} + std::string{drop_v27_v28} +
        "DROP TABLE response_rollups, request_rollups;"
        "DROP TRIGGER IF EXISTS responses_rollup_insert ON responses;"
        "DROP TRIGGER IF EXISTS responses_rollup_update ON responses;"
        "DROP TRIGGER IF EXISTS requests_rollup_insert ON requests;"
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

TEST(migrations, a_database_at_version_24_with_rows_gets_its_pending_requests_series_and_search_backlog) {
    // Migrations 27 and 28 (issue 19) fill pending_requests, response_series and the text
    // search's queue from what is stored, then keep them by triggers: rebuild the state before it with rows in it, then migrate.
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(migrate(*c));
    ASSERT_TRUE(c->exec(
        "DELETE FROM schema_migrations WHERE version >= 27;" + std::string{drop_v33} + std::string{drop_v27_v28} +
        std::string{v10_triggers} +
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
        " SELECT 'old-' || i, now() - i * interval '1 minute', 'api-1', 'native', '/api/generate', 'generate',"
        " 'mock', true, 'p' FROM generate_series(1, 300) AS i;"
        "INSERT INTO responses (request_id, status, model, worker_id, ttft_ms, duration_ms, completion_tokens,"
        " completed_at)"
        " SELECT 'old-' || i, CASE WHEN i % 10 = 0 THEN 'error' ELSE 'ok' END, 'm-' || (i % 3), 'w-' || (i % 2),"
        " 10 + i, 100 + i, 2, now() - i * interval '1 minute' + interval '5 seconds'"
        " FROM generate_series(1, 300) AS i WHERE i NOT IN (3, 150, 299)"));
    auto r = migrate(*c);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 300) << "no row lost";
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 297);
    EXPECT_EQ(db.scalar("SELECT string_agg(request_id, ',' ORDER BY received_at DESC) FROM pending_requests"),
              "old-3,old-150,old-299");
    EXPECT_EQ(db.count("SELECT count(*) FROM search_backlog"), 300) << "every stored request queued for the index";
    // The series are the rollups without their dimensions: equal sums and histograms.
    for (const char* grain : {"minute", "hour"}) {
        const std::string g = std::string{"grain = '"} + grain + "'";
        EXPECT_EQ(db.count("SELECT sum(n) FROM response_series WHERE " + g), 297) << grain;
        EXPECT_EQ(db.count("SELECT sum(n) FROM response_series WHERE status = 'error' AND " + g), 29) << grain;
        EXPECT_EQ(db.count("SELECT sum(completion_tokens) FROM response_series WHERE " + g), 594) << grain;
        for (const char* h : {"ttft_hist", "duration_hist"}) {
            const std::string entries = std::string{"SELECT t, ((e % 256) + 256) % 256 AS k, sum(e / 256) FROM "};
            EXPECT_EQ(db.count("SELECT count(*) FROM ((" + entries + "response_series, unnest(" + h + ") e WHERE " + g +
                               " GROUP BY 1, 2) EXCEPT (" + entries + "response_rollups, unnest(" + h + ") e WHERE " +
                               g + " GROUP BY 1, 2)) x"),
                      0)
                << grain << " " << h;
        }
    }
    // From now on the triggers keep them: a response removes its request, a redelivered request
    // changes nothing. A response stored before its request leaves that request's row (pg
    // migration 38: no probe per request): the monitor's pages hide it and the retention pass
    // removes it (request_queries_itest, retention_itest).
    ASSERT_TRUE(c->exec(
        "INSERT INTO responses (request_id, status, completed_at) VALUES ('old-150', 'ok', now()), ('early', 'ok', "
        "now());"
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)"
        " VALUES ('early', now(), 'a', 'native', '/api/chat', 'chat', 'm', true), ('new', now(), 'a', 'native',"
        " '/api/chat', 'chat', 'm', true) ON CONFLICT DO NOTHING;"
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)"
        " VALUES ('old-3', now(), 'a', 'native', '/api/chat', 'chat', 'm', true) ON CONFLICT DO NOTHING"));
    EXPECT_EQ(db.scalar("SELECT string_agg(request_id, ',' ORDER BY request_id) FROM pending_requests"),
              "early,new,old-299,old-3");
    EXPECT_EQ(db.count("SELECT sum(n) FROM response_series WHERE grain = 'hour'"), 299);
    EXPECT_EQ(db.count("SELECT count(*) FROM search_backlog"), 302);
    // A merge that changes a status moves its count (the UPDATE trigger).
    ASSERT_TRUE(c->exec("UPDATE responses SET status = 'cancelled' WHERE request_id = 'old-1'"));
    EXPECT_EQ(db.count("SELECT sum(n) FROM response_series WHERE grain = 'minute' AND status = 'cancelled'"), 1);
    EXPECT_EQ(db.count("SELECT sum(n) FROM response_series WHERE grain = 'minute'"), 299);
}

TEST(migrations, a_database_at_version_32_with_rows_gets_error_rollups_and_one_trigger_per_event) {
    // Migration 33 (issue 19) rolls up the non-ok responses already stored per route, status and
    // code, and replaces the rollup, series, pending and search triggers by one per table and
    // event: rebuild the state before it with rows in it (stored by the old triggers), then migrate.
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(migrate(*c));
    ASSERT_TRUE(c->exec(
        "DELETE FROM schema_migrations WHERE version >= 33;" + std::string{undo_v38} + std::string{drop_v33} +
        std::string{v29_triggers} +
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
        " SELECT 'old-' || i, now() - i * interval '1 minute', 'api-1', 'native',"
        " CASE WHEN i % 2 = 0 THEN '/api/chat' ELSE '/api/generate' END, 'generate', 'mock', true, 'p'"
        " FROM generate_series(1, 300) AS i;"
        "INSERT INTO responses (request_id, status, model, worker_id, completed_at, error_code, request_received_at)"
        " SELECT 'old-' || i, CASE WHEN i % 10 = 0 THEN 'error' WHEN i % 30 = 1 THEN 'cancelled' ELSE 'ok' END,"
        " 'mock', 'w-1', now() - i * interval '1 minute' + interval '5 seconds',"
        " CASE WHEN i % 10 = 0 THEN 'timeout' END, now() - i * interval '1 minute'"
        " FROM generate_series(1, 300) AS i"));
    auto r = migrate(*c);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), std::count_if(all_migrations().begin(), all_migrations().end(),
                                       [](const migration& m) { return m.version >= 33; }));
    EXPECT_EQ(db.scalar("SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal AND "
                        "tgrelid IN ('requests'::regclass, 'responses'::regclass)"),
              "requests_stored_insert,responses_stored_insert,responses_stored_update");
    for (const char* grain : {"minute", "hour"}) {
        const std::string g = std::string{" AND grain = '"} + grain + "'";
        EXPECT_EQ(db.scalar("SELECT string_agg(concat_ws('|', route, status, error_code, n), ',' ORDER BY route, "
                            "status) FROM (SELECT route, status, error_code, sum(n) AS n FROM error_rollups WHERE "
                            "true" +
                            g + " GROUP BY 1, 2, 3) x"),
                  "/api/chat|error|timeout|30,/api/generate|cancelled|10")
            << grain;
    }
    // From now on the trigger keeps them, with the others.
    ASSERT_TRUE(
        c->exec("INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)"
                " VALUES ('new', now(), 'a', 'native', '/api/chat', 'chat', 'm', true);"
                "INSERT INTO responses (request_id, status, completed_at, error_code, request_received_at)"
                " SELECT 'new', 'error', now(), 'timeout', received_at FROM requests WHERE request_id = 'new';"
                "UPDATE responses SET status = 'error', error_code = 'timeout' WHERE request_id = 'old-1'"));
    EXPECT_EQ(db.count("SELECT sum(n) FROM error_rollups WHERE grain = 'hour' AND error_code = 'timeout'"), 32);
    EXPECT_EQ(db.count("SELECT sum(n) FROM error_rollups WHERE grain = 'hour' AND status = 'cancelled'"), 9);
    EXPECT_EQ(db.count("SELECT sum(n) FROM response_rollups WHERE grain = 'hour'"), 301);
    EXPECT_EQ(db.count("SELECT sum(n) FROM response_rollups WHERE grain = 'minute' AND status = 'error'"), 32);
    EXPECT_EQ(db.count("SELECT sum(n) FROM response_series WHERE grain = 'minute' AND status = 'error'"), 32);
    EXPECT_EQ(db.count("SELECT sum(n) FROM request_rollups WHERE grain = 'hour'"), 301);
    EXPECT_EQ(db.count("SELECT count(*) FROM search_backlog"), 301);
    EXPECT_EQ(db.count("SELECT count(*) FROM pending_requests"), 0) << "every request answered";
}

TEST(migrations, a_database_at_version_35_with_rows_gets_an_empty_search_coverage_and_llmp_search_doc) {
    // Migration 36 (issue 19): the searched text as one function, the same text as
    // request_search.doc held; nothing covered until the audit has built a closed day's index,
    // so the search reads what it read before. (The search itself across the upgrade, with the
    // indexer's first pass: monitor's request_queries_itest.)
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(migrate(*c));
    ASSERT_TRUE(c->exec(
        "DELETE FROM schema_migrations WHERE version = 36; DROP TABLE search_coverage;"
        "DROP FUNCTION llmp_search_doc(text, jsonb);"
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt,"
        " messages) SELECT 'r-' || i, now() - i * interval '1 minute', 'api-1', 'native', '/api/chat', 'chat', 'm',"
        " true, CASE WHEN i % 2 = 0 THEN 'prompt ' || i END, CASE WHEN i % 3 = 0 THEN jsonb_build_array("
        "jsonb_build_object('role', 'user', 'content', 'hi ' || i)) END FROM generate_series(1, 30) AS i;"
        "WITH b AS (DELETE FROM search_backlog WHERE request_id IN ('r-1', 'r-2', 'r-3', 'r-6') RETURNING request_id)"
        " INSERT INTO request_search SELECT q.request_id, q.received_at, coalesce(q.prompt, '') || ' ' ||"
        " coalesce(q.messages::text, '') FROM b JOIN requests q USING (request_id)"));
    auto r = migrate(*c);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), 1);
    EXPECT_EQ(db.scalar("SELECT (covered_from = covered_until)::text FROM search_coverage"), "true");
    EXPECT_EQ(db.count("SELECT count(*) FROM request_search s JOIN requests q USING (request_id) WHERE s.doc ="
                       " llmp_search_doc(q.prompt, q.messages)"),
              4);
    EXPECT_EQ(db.count("SELECT count(*) FROM search_backlog"), 26) << "still queued";
    // IMMUTABLE: a partition may be indexed over it, as the audit does a closed day's.
    ASSERT_TRUE(c->exec("CREATE INDEX ON requests_legacy USING gin (llmp_search_doc(prompt, messages) gin_trgm_ops)"));
    auto again = migrate(*c);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again.value(), 0) << "idempotent";
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

// /api/storage's query against the real PostgreSQL: sizes of the database and its audit tables,
// and the retention as the audit service recorded it (null before it did).

#include "monitor/storage_queries.hpp"

#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

namespace llmp::monitor {
namespace {

TEST(storage_queries, report_sizes_and_the_recorded_retention) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));

    auto before = query_storage(*c);
    ASSERT_TRUE(before) << before.error().message;
    EXPECT_GT(before.value()["database_bytes"].get<std::int64_t>(), 0);
    for (const char* t : {"requests", "responses", "response_chunks", "response_rollups", "request_rollups",
                          "error_rollups", "response_series", "pending_requests", "search_backlog", "request_search"}) {
        EXPECT_TRUE(before.value()["tables"].contains(t)) << t;
    }
    EXPECT_TRUE(before.value()["retention"].is_null());

    ASSERT_TRUE(
        c->exec("INSERT INTO audit_retention (request_days, rollup_days, last_run_at, last_deleted)"
                " VALUES (30, 400, now(), 12)"));
    auto after = query_storage(*c);
    ASSERT_TRUE(after) << after.error().message;
    const auto& r = after.value()["retention"];
    EXPECT_EQ(r["request_days"], 30);
    EXPECT_EQ(r["rollup_days"], 400);
    EXPECT_EQ(r["last_deleted"], 12);
    EXPECT_TRUE(r["last_run_at_ms"].is_number());
}

TEST(storage_queries, answer_on_a_database_without_retention_yet) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    ASSERT_TRUE(c->exec("DROP TABLE audit_retention; DELETE FROM schema_migrations WHERE version = 22"));
    auto s = query_storage(*c);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE(s.value()["retention"].is_null());
    EXPECT_GT(s.value()["tables"]["requests"].get<std::int64_t>(), 0);
}

}  // namespace
}  // namespace llmp::monitor

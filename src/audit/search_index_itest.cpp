// The text search's index (pg migration 28, audit/search_index.hpp) against the real PostgreSQL
// (scripts/test sets LLMPROXY_TEST_DATABASE_URL): what the ingest queues is moved into
// request_search with the text the monitor matches, newest first, in batches; queued keys whose
// request is gone are dropped; retention removes both tables' old rows. The closed days' own
// partition indexes (pg migration 36, audit/search_coverage.hpp): a day without a partition is
// created or waited for, never covered. (The search across all of it: monitor's
// request_queries_itest.)

#include "audit/partitions.hpp"
#include "audit/retention.hpp"
#include "audit/search_coverage.hpp"
#include "audit/search_index.hpp"
#include "pg/connection.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace llmp::audit {
namespace {

using pg::testing::scratch_database;

bool go_on() {
    return true;
}

class search_index : public ::testing::Test {
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
        // 25 requests, one a minute; one message list, one prompt, the rest bare; a redelivery.
        ASSERT_TRUE(c_->exec(
            "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream,"
            " prompt, messages) SELECT 'r-' || i, now() - i * interval '1 minute', 'a', 'native', '/api/chat',"
            " 'chat', 'm', true, CASE WHEN i = 3 THEN 'Hello there' END, CASE WHEN i = 4 THEN"
            " '[{\"role\": \"user\", \"content\": \"hi\"}]'::jsonb END FROM generate_series(0, 24) AS i;"
            "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream)"
            " VALUES ('r-1', now(), 'a', 'native', '/api/chat', 'chat', 'm', true) ON CONFLICT DO NOTHING"));
    }
    std::unique_ptr<scratch_database> db_;
    std::unique_ptr<pg::connection> c_;
};

TEST_F(search_index, moves_the_queued_requests_text_newest_first_in_batches) {
    ASSERT_EQ(db_->count("SELECT count(*) FROM search_backlog"), 25);
    // One batch of 10 when asked to stop after it: the newest ten.
    int batches = 0;
    auto one = index_search_backlog(*c_, 10, [&] { return batches++ < 1; });
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(one.value().indexed, 10);
    EXPECT_EQ(db_->scalar("SELECT min(request_id COLLATE \"C\") || ' ' || max(request_id COLLATE \"C\") FROM "
                          "request_search WHERE request_id IN ('r-0', 'r-9', 'r-10')"),
              "r-0 r-9");
    // Then the rest until the backlog is empty; a key whose request is gone is dropped.
    ASSERT_TRUE(c_->exec("INSERT INTO search_backlog VALUES ('gone', now())"));
    auto rest = index_search_backlog(*c_, 10, go_on);
    ASSERT_TRUE(rest) << rest.error().message;
    EXPECT_EQ(rest.value().dequeued, 16);
    EXPECT_EQ(rest.value().indexed, 15);
    EXPECT_EQ(db_->count("SELECT count(*) FROM search_backlog"), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM request_search"), 25);
    EXPECT_EQ(db_->scalar("SELECT doc FROM request_search WHERE request_id = 'r-3'"), "Hello there ");
    EXPECT_EQ(db_->scalar("SELECT doc FROM request_search WHERE request_id = 'r-4'"),
              " [{\"role\": \"user\", \"content\": \"hi\"}]");
    // The trigram index serves a substring search.
    ASSERT_TRUE(c_->exec("SET enable_seqscan = off"));
    auto plan = c_->query("EXPLAIN SELECT request_id FROM request_search WHERE doc ILIKE '%there%'");
    ASSERT_TRUE(plan);
    std::string text;
    for (const auto& row : plan.value().rows) {
        text += row.at(0).value_or("") + "\n";
    }
    EXPECT_NE(text.find("request_search_doc_trgm_idx"), std::string::npos) << text;
}

TEST_F(search_index, takes_one_batch_a_tick_while_the_ingest_is_behind_and_all_once_it_keeps_up) {
    ASSERT_EQ(db_->count("SELECT count(*) FROM search_backlog"), 25);
    bool behind = true;
    auto ticks = [&] { return search_index_pace(go_on, [&] { return behind; }); };
    auto first = index_search_backlog(*c_, 10, ticks());
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first.value().indexed, 10) << "one batch while the writer is behind";
    auto second = index_search_backlog(*c_, 10, ticks());
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(second.value().indexed, 10) << "and one at the next tick";
    EXPECT_EQ(db_->count("SELECT count(*) FROM search_backlog"), 5);
    // Caught up: the rest at once, a key queued twice indexed once (the queue has no key).
    ASSERT_TRUE(
        c_->exec("INSERT INTO search_backlog SELECT request_id, received_at FROM requests"
                 " WHERE request_id IN ('r-0', 'r-24')"));
    behind = false;
    auto rest = index_search_backlog(*c_, 3, ticks());
    ASSERT_TRUE(rest) << rest.error().message;
    EXPECT_EQ(rest.value().dequeued, 7);
    EXPECT_EQ(db_->count("SELECT count(*) FROM search_backlog"), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM request_search"), 25);
    // Stopping still wins over the pace.
    ASSERT_TRUE(c_->exec("INSERT INTO search_backlog SELECT request_id, received_at FROM requests"));
    auto stopped = index_search_backlog(*c_, 10, search_index_pace([] { return false; }, {}));
    ASSERT_TRUE(stopped) << stopped.error().message;
    EXPECT_EQ(stopped.value().dequeued, 0);
}

TEST_F(search_index, retention_removes_both_tables_old_rows) {
    ASSERT_TRUE(
        c_->exec("UPDATE requests SET received_at = now() - interval '10 days' WHERE request_id IN ('r-5', "
                 "'r-6');"
                 "UPDATE search_backlog SET received_at = now() - interval '10 days' WHERE request_id IN "
                 "('r-5', 'r-6')"));
    int batches = 0;
    ASSERT_TRUE(index_search_backlog(*c_, 24, [&] { return batches++ < 1; }));  // all but the oldest: r-5 or r-6
    ASSERT_EQ(db_->count("SELECT count(*) FROM search_backlog"), 1);
    auto pass = apply_retention(*c_, {7, 0, 1000}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().requests, 2);
    EXPECT_EQ(pass.value().search_rows, 2);
    EXPECT_EQ(db_->count("SELECT count(*) FROM search_backlog"), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM request_search"), 23);
}

/// The start of the UTC day `days_ago` days before today's, as SQL.
std::string day_sql(int days_ago) {
    return "(date_trunc('day', now(), 'UTC') - interval '" + std::to_string(days_ago) + " days')";
}

TEST(search_coverage, a_closed_day_without_a_partition_is_waited_for_while_the_default_partition_has_its_rows) {
    auto url = pg::testing::test_database_url();
    if (!url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    scratch_database db{*url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    // Day partitions three days ago and from yesterday on, none two days ago (the service was
    // down): a row of that day lands in the DEFAULT partition.
    ASSERT_TRUE(
        c->exec("ALTER TABLE requests DETACH PARTITION requests_legacy; DROP TABLE requests_legacy;"
                "ALTER TABLE responses DETACH PARTITION responses_legacy; DROP TABLE responses_legacy"));
    ASSERT_TRUE(create_day_partitions(*c, db.scalar("SELECT " + day_sql(3) + "::text"), 0));
    ASSERT_TRUE(create_day_partitions(*c, db.scalar("SELECT " + day_sql(1) + "::text"), 2));
    ASSERT_TRUE(c->exec(
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
        " SELECT id, at + interval '1 hour', 'a', 'native', '/api/chat', 'chat', 'm', true, 'text of ' || id"
        " FROM (VALUES ('three', " +
        day_sql(3) + "), ('gap', " + day_sql(2) + "), ('one', " + day_sql(1) + ")) AS v(id, at)"));
    ASSERT_EQ(db.scalar("SELECT tableoid::regclass::text FROM requests WHERE request_id = 'gap'"), "requests_default");
    ASSERT_TRUE(index_search_backlog(*c, 100, go_on));
    ASSERT_EQ(db.count("SELECT count(*) FROM request_search"), 3);

    // Covered: the day before the gap only. The gap's and yesterday's rows keep their copies.
    auto first = cover_closed_partitions(*c, std::chrono::seconds{0}, 100, go_on);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first.value().partitions, 1);
    EXPECT_EQ(first.value().search_rows, 1);
    EXPECT_EQ(db.scalar("SELECT (covered_from = " + day_sql(3) + ")::text || (covered_until = " + day_sql(2) +
                        ")::text FROM search_coverage"),
              "truetrue");
    EXPECT_EQ(db.scalar("SELECT string_agg(request_id, ',' ORDER BY request_id) FROM request_search"), "gap,one");
    // Its partition's index, valid, over the searched text (the plan that reads it: monitor's
    // request_queries_itest).
    EXPECT_EQ(db.scalar("SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x WHERE x.indisvalid AND x.indexrelid = "
                        "to_regclass('requests_p' || to_char(" +
                        day_sql(3) + ", 'YYYYMMDD') || '_search_trgm_idx')"),
              db.scalar("SELECT 'CREATE INDEX requests_p' || to_char(" + day_sql(3) +
                        ", 'YYYYMMDD') || '_search_trgm_idx ON public.requests_p' || to_char(" + day_sql(3) +
                        ", 'YYYYMMDD') || ' USING gin (llmp_search_doc(prompt, messages) gin_trgm_ops)'"));

    // Once the DEFAULT partition holds none of that day's rows (retention trims them there), the
    // day is created empty and covered, and the next one with it.
    ASSERT_TRUE(c->exec("DELETE FROM requests WHERE request_id = 'gap'"));
    auto second = cover_closed_partitions(*c, std::chrono::seconds{0}, 100, go_on);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(second.value().partitions, 2);
    EXPECT_EQ(db.scalar("SELECT (covered_from = " + day_sql(3) + ")::text || (covered_until = " + day_sql(0) +
                        ")::text FROM search_coverage"),
              "truetrue");
    EXPECT_EQ(db.count("SELECT count(*) FROM request_search"), 0);
    EXPECT_EQ(db.count("SELECT count(*) FROM pg_class WHERE relname LIKE 'requests_p%_search_trgm_idx'"), 3);
    // Nothing more to cover until today has ended.
    auto third = cover_closed_partitions(*c, std::chrono::seconds{0}, 100, go_on);
    ASSERT_TRUE(third) << third.error().message;
    EXPECT_EQ(third.value().partitions, 0);
}

}  // namespace
}  // namespace llmp::audit

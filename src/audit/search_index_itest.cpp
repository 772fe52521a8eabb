// The text search's index (pg migration 28, audit/search_index.hpp) against the real PostgreSQL
// (scripts/test sets LLMPROXY_TEST_DATABASE_URL): what the ingest queues is moved into
// request_search with the text the monitor matches, newest first, in batches; queued keys whose
// request is gone are dropped; retention removes both tables' old rows.

#include "audit/retention.hpp"
#include "audit/search_index.hpp"
#include "pg/connection.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <memory>

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

}  // namespace
}  // namespace llmp::audit

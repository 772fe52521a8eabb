// The request history's `pending` filter against the real PostgreSQL (issue 19): requests of the
// deadline horizon without a response, newest first in keyset pages, from pending_requests (pg
// migration 27) checked against the responses; the session's settings as they were afterwards.

#include "monitor/request_queries.hpp"

#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace llmp::monitor {
namespace {

std::set<std::string> ids_of(const nlohmann::json& page) {
    std::set<std::string> ids;
    for (const auto& r : page["requests"]) {
        ids.insert(r["request_id"].get<std::string>());
    }
    return ids;
}

TEST(request_queries, pending_lists_the_horizon_s_requests_without_a_response_page_by_page) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    // 200 requests over the last 100 minutes, answered but for every 40th; one unanswered
    // request older than the horizon (lost, not pending).
    ASSERT_TRUE(c->exec(R"sql(
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)
SELECT 'q-' || i, now() - i * interval '30 seconds', 'api-1', 'native', '/api/generate', 'generate', 'm', true, 'p'
FROM generate_series(0, 199) AS i;
INSERT INTO responses (request_id, status, text, completed_at)
SELECT 'q-' || i, 'ok', 'a', now() - i * interval '30 seconds' + interval '1 second'
FROM generate_series(0, 199) AS i WHERE i % 40 <> 5;
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)
VALUES ('lost', now() - interval '3 hours', 'api-1', 'native', '/api/generate', 'generate', 'm', true, 'p');
-- What a request and its response stored concurrently can leave in pending_requests: answered.
INSERT INTO pending_requests SELECT request_id, received_at FROM requests WHERE request_id = 'q-7';
)sql"));
    ASSERT_EQ(db.count("SELECT count(*) FROM pending_requests"), 7);
    ASSERT_TRUE(c->exec("SET max_parallel_workers_per_gather = 1"));

    request_filter f;
    f.status = "pending";
    f.limit = 3;
    auto first = query_requests(*c, f);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(ids_of(first.value()), (std::set<std::string>{"q-5", "q-45", "q-85"}));
    for (const auto& r : first.value()["requests"]) {
        EXPECT_EQ(r["status"], "pending");
    }
    ASSERT_TRUE(first.value()["next_cursor"].is_string());
    f.after = cursor::decode(first.value()["next_cursor"].get<std::string>()).value();
    auto second = query_requests(*c, f);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(ids_of(second.value()), (std::set<std::string>{"q-125", "q-165"}));
    EXPECT_TRUE(second.value()["next_cursor"].is_null());

    // The serial plan was for that query only.
    auto setting = c->query("SHOW max_parallel_workers_per_gather");
    ASSERT_TRUE(setting);
    EXPECT_EQ(setting.value().rows.at(0).at(0), "1");
}

TEST(request_queries, text_search_finds_indexed_and_queued_requests_within_its_window) {
    // pg migration 28: stored requests are queued in search_backlog; the audit moves them into
    // request_search (here by the same statement's effect). A match must be found in either.
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    ASSERT_TRUE(c->exec(R"sql(
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt, messages)
SELECT 't-' || i, now() - i * interval '1 hour', 'api-1', 'native', '/api/chat', 'chat', 'm', true,
       CASE WHEN i % 2 = 0 THEN 'a prompt with Zyzzyva ' || i END,
       CASE WHEN i % 2 = 1 THEN jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'zyzzyva ' || i)) END
FROM generate_series(0, 47) AS i;
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)
VALUES ('plain', now(), 'api-1', 'native', '/api/chat', 'chat', 'm', true, 'nothing to see: 100% \_');
WITH b AS (DELETE FROM search_backlog WHERE received_at < now() - interval '6 hours' RETURNING request_id)
INSERT INTO request_search (request_id, received_at, doc)
SELECT q.request_id, q.received_at, coalesce(q.prompt, '') || ' ' || coalesce(q.messages::text, '')
FROM b JOIN requests q USING (request_id);
)sql"));
    ASSERT_EQ(db.count("SELECT count(*) FROM search_backlog"), 8);
    ASSERT_EQ(db.count("SELECT count(*) FROM request_search"), 41);

    request_filter f;
    f.text = "ZYZZYVA";
    f.limit = 500;
    auto day = query_requests(*c, f);  // the default window: a day
    ASSERT_TRUE(day) << day.error().message;
    EXPECT_EQ(day.value()["requests"].size(), 24u);
    EXPECT_EQ(day.value()["requests"][0]["request_id"], "t-0");
    EXPECT_EQ(day.value()["requests"][23]["request_id"], "t-23");

    f.window_s = 3 * 86400;
    auto all = query_requests(*c, f);
    ASSERT_TRUE(all) << all.error().message;
    EXPECT_EQ(all.value()["requests"].size(), 48u);

    // The user's % and _ match themselves, queued or indexed.
    f.text = "100% \\_";
    auto literal = query_requests(*c, f);
    ASSERT_TRUE(literal) << literal.error().message;
    EXPECT_EQ(ids_of(literal.value()), (std::set<std::string>{"plain"}));
    ASSERT_TRUE(
        c->exec("WITH b AS (DELETE FROM search_backlog RETURNING request_id) INSERT INTO request_search "
                "SELECT q.request_id, q.received_at, coalesce(q.prompt, '') || ' ' || "
                "coalesce(q.messages::text, '') FROM b JOIN requests q USING (request_id)"));
    literal = query_requests(*c, f);
    ASSERT_TRUE(literal) << literal.error().message;
    EXPECT_EQ(ids_of(literal.value()), (std::set<std::string>{"plain"}));
    f.text = "100%_";
    literal = query_requests(*c, f);
    ASSERT_TRUE(literal) << literal.error().message;
    EXPECT_TRUE(literal.value()["requests"].empty());
}

}  // namespace
}  // namespace llmp::monitor

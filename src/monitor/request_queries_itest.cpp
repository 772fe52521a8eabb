// The request history's `pending` filter against the real PostgreSQL (issue 19): requests of the
// deadline horizon without a response, newest first in keyset pages, through the anti-join on
// the responses' key; the session's settings as they were afterwards.

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
)sql"));
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

}  // namespace
}  // namespace llmp::monitor

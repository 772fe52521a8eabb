// The request history's `pending` filter against the real PostgreSQL (issue 19): requests of the
// deadline horizon without a response, newest first in keyset pages, from pending_requests (pg
// migration 27) checked against the responses; the session's settings as they were afterwards.
// The text search across request_search, the queue and the closed days' own partition indexes
// (pg migrations 28 and 36), with the audit's indexer, coverage and retention doing their part.

#include "monitor/request_queries.hpp"
#include "monitor/storage_queries.hpp"

#include "audit/partitions.hpp"
#include "audit/retention.hpp"
#include "audit/search_coverage.hpp"
#include "audit/search_index.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
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

bool go_on() {
    return true;
}

/// The start of the UTC day `days_ago` days before today's, as SQL.
std::string day_sql(int days_ago) {
    return "(date_trunc('day', now(), 'UTC') - interval '" + std::to_string(days_ago) + " days')";
}

/// Replaces the legacy partition (which holds every day up to two days ahead in a fresh
/// database) by day partitions from three days ago to two days ahead, as a database some days
/// after its conversion has them.
void use_day_partitions(pg::testing::scratch_database& db, pg::connection& c) {
    ASSERT_TRUE(
        c.exec("ALTER TABLE requests DETACH PARTITION requests_legacy; DROP TABLE requests_legacy;"
               "ALTER TABLE responses DETACH PARTITION responses_legacy; DROP TABLE responses_legacy"));
    auto made = audit::create_day_partitions(c, db.scalar("SELECT " + day_sql(3) + "::text"), 5);
    ASSERT_TRUE(made) << made.error().message;
    ASSERT_EQ(made.value(), 12);
}

std::string request_sql(const std::string& id, const std::string& at, const std::string& prompt,
                        const std::string& messages = "NULL") {
    return "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt,"
           " messages) VALUES ('" +
           id + "', " + at + ", 'api-1', 'native', '/api/chat', 'chat', 'm', true, " + prompt + ", " + messages + ")";
}

/// What the monitor finds for `text` over the last five days.
std::set<std::string> found(pg::connection& c, const std::string& text) {
    request_filter f;
    f.text = text;
    f.window_s = 5 * 86400;
    f.limit = 500;
    auto page = query_requests(c, f);
    EXPECT_TRUE(page) << page.error().message;
    return page ? ids_of(page.value()) : std::set<std::string>{};
}

TEST(request_queries, text_search_reads_closed_days_through_their_partitions_index_once_each) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    use_day_partitions(db, *c);
    // A rare word in two closed days (in the prompt, in the messages) and today, among requests
    // without it every 30 seconds of the four days (enough
    // rows for a partition's trigram index to beat reading the whole day by its time).
    ASSERT_TRUE(c->exec(
        request_sql("closed-prompt", day_sql(2) + " + interval '12 hours'", "'the Quokkarare is here'") + ";" +
        request_sql("closed-messages", day_sql(3) + " + interval '6 hours'", "NULL",
                    "'[{\"role\": \"user\", \"content\": \"a quokkarare\"}]'") +
        ";" + request_sql("open", "now()", "'QUOKKARARE today'") +
        ";INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
        " SELECT 'filler-' || i, " +
        day_sql(3) +
        " + i * interval '30 seconds', 'api-1', 'native', '/api/chat', 'chat', 'm', true, 'nothing much ' || "
        "md5(i::text)"
        " FROM generate_series(0, 4 * 2880) AS i WHERE " +
        day_sql(3) + " + i * interval '30 seconds' < now()"));
    const std::set<std::string> three{"closed-prompt", "closed-messages", "open"};
    EXPECT_EQ(found(*c, "quokkarare"), three) << "queued";
    auto indexed = audit::index_search_backlog(*c, 5000, go_on);
    ASSERT_TRUE(indexed) << indexed.error().message;
    EXPECT_EQ(found(*c, "quokkarare"), three) << "in request_search";

    // The closed days (margin 0: yesterday's too) get their partition's index and leave
    // request_search; today's stay.
    auto covered = audit::cover_closed_partitions(*c, std::chrono::seconds{0}, 1000, go_on);
    ASSERT_TRUE(covered) << covered.error().message;
    EXPECT_EQ(covered.value().partitions, 3);
    EXPECT_EQ(db.scalar("SELECT (covered_from = " + day_sql(3) + ")::text || (covered_until = " + day_sql(0) +
                        ")::text FROM search_coverage"),
              "truetrue");
    EXPECT_EQ(db.count("SELECT count(*) FROM request_search WHERE received_at < " + day_sql(0)), 0);
    EXPECT_EQ(db.count("SELECT count(*) FROM request_search WHERE request_id = 'open'"), 1);
    EXPECT_EQ(found(*c, "quokkarare"), three) << "closed days through their partitions";
    // The storage report counts the partitions' new indexes as bytes of requests.
    auto storage = query_storage(*c);
    ASSERT_TRUE(storage) << storage.error().message;
    const auto trgm_bytes =
        db.count("SELECT sum(pg_relation_size(oid)) FROM pg_class WHERE relname LIKE 'requests_p%_search_trgm_idx'");
    EXPECT_GT(trgm_bytes, 0);
    // Within half the new indexes' bytes (so a report without them still fails): the audit's
    // partition upkeep in the background may add a day's empty partition between the two reads
    // (CI saw 16 KiB once).
    EXPECT_NEAR(
        static_cast<double>(storage.value()["tables"]["requests"].get<std::int64_t>()),
        static_cast<double>(db.count("SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('requests')")),
        static_cast<double>(trgm_bytes) / 2);

    // A late row of a covered day, and a row of today, both queued: found; the indexer then
    // dequeues the late one without a copy (its partition's index has it).
    ASSERT_TRUE(c->exec(request_sql("late", day_sql(2) + " + interval '1 hour'", "'late quokkarare'") + ";" +
                        request_sql("open-queued", "now()", "'quokkarare queued'")));
    const std::set<std::string> five{"closed-prompt", "closed-messages", "open", "late", "open-queued"};
    EXPECT_EQ(found(*c, "quokkarare"), five) << "late row queued";
    auto again = audit::index_search_backlog(*c, 1000, go_on);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again.value().dequeued, 2);
    EXPECT_EQ(again.value().covered, 1);
    EXPECT_EQ(again.value().indexed, 1);
    EXPECT_EQ(db.count("SELECT count(*) FROM request_search WHERE request_id = 'late'"), 0);
    EXPECT_EQ(found(*c, "quokkarare"), five) << "late row dequeued";
    // A copy left in request_search for a covered day (an indexer that read the coverage before
    // it moved) is not matched a second time, and goes at the next pass.
    ASSERT_TRUE(
        c->exec("INSERT INTO request_search SELECT request_id, received_at, llmp_search_doc(prompt, messages)"
                " FROM requests WHERE request_id = 'late'"));
    EXPECT_EQ(found(*c, "quokkarare"), five);
    auto cleaned = audit::cover_closed_partitions(*c, std::chrono::seconds{0}, 1000, go_on);
    ASSERT_TRUE(cleaned) << cleaned.error().message;
    EXPECT_EQ(cleaned.value().partitions, 0);
    EXPECT_EQ(cleaned.value().search_rows, 1);

    // The covered days' branch reads their partitions' trigram indexes, nothing else of requests.
    // Statistics as autovacuum would have them; the plain scans of tiny partitions off.
    ASSERT_TRUE(c->exec("ANALYZE requests; SET enable_seqscan = off; SET enable_indexscan = off"));
    request_filter f;
    f.text = "quokkarare";
    f.window_s = 5 * 86400;
    auto range = read_search_coverage(*c, f);
    ASSERT_TRUE(range && range.value()) << "a covered range";
    auto q = request_list_sql(f, range.value());
    auto plan = c->query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + q.sql, q.params);
    ASSERT_TRUE(plan) << plan.error().message;
    std::string text;
    for (const auto& row : plan.value().rows) {
        text += row.at(0).value_or("") + "\n";
    }
    const auto day2 = db.scalar("SELECT to_char(" + day_sql(2) + ", 'YYYYMMDD')");
    EXPECT_NE(text.find("Bitmap Index Scan on requests_p" + day2 + "_search_trgm_idx"), std::string::npos) << text;
    // The branch's alias is d: its scans are bitmap heap scans of covered day partitions only.
    const std::regex branch_scan{R"(([A-Za-z ]*Scan) on (requests_\w+) d(_\d+)?\b)"};
    int branch_scans = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), branch_scan); it != std::sregex_iterator(); ++it) {
        ++branch_scans;
        EXPECT_NE((*it)[1].str().find("Bitmap Heap Scan"), std::string::npos) << (*it)[0].str() << "\n" << text;
        EXPECT_NE((*it)[2].str(), "requests_default") << text;
        EXPECT_NE((*it)[2].str(), "requests_p" + db.scalar("SELECT to_char(" + day_sql(0) + ", 'YYYYMMDD')")) << text;
    }
    EXPECT_EQ(branch_scans, 3) << text;
    EXPECT_EQ(text.find("Seq Scan on requests"), std::string::npos) << text;
    ASSERT_TRUE(c->exec("RESET enable_seqscan; RESET enable_indexscan"));
    // A day's window reads the covered range from a day ago only: yesterday's partition.
    request_filter day;
    day.text = "quokkarare";
    auto narrow = read_search_coverage(*c, day);
    ASSERT_TRUE(narrow && narrow.value()) << "yesterday is covered";
    EXPECT_EQ(db.scalar("SELECT ('" + narrow.value()->from + "'::timestamptz > " + day_sql(1) + ")::text"), "true");
    auto last_day = query_requests(*c, day);
    ASSERT_TRUE(last_day) << last_day.error().message;
    EXPECT_EQ(ids_of(last_day.value()), (std::set<std::string>{"open", "open-queued"}));

    // Retention drops the oldest covered day (its index with it): the coverage starts after it,
    // the search goes on.
    auto pass = audit::apply_retention(*c, {2, 0, 1000}, go_on);
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(db.count("SELECT count(*) FROM pg_class WHERE relname = 'requests_p" +
                       db.scalar("SELECT to_char(" + day_sql(3) + ", 'YYYYMMDD')") + "_search_trgm_idx'"),
              0);
    EXPECT_EQ(db.scalar("SELECT (covered_from = " + day_sql(2) + ")::text FROM search_coverage"), "true");
    EXPECT_EQ(found(*c, "quokkarare"), (std::set<std::string>{"closed-prompt", "open", "late", "open-queued"}));
}

TEST(request_queries, a_database_at_version_35_gets_migration_36_and_finds_the_same_requests) {
    // Version 35: no search_coverage, no llmp_search_doc, day partitions, a text index of every
    // request but the queued ones (request_search with the same text). After migration 36 the
    // search finds the same requests, before and after the audit's first pass covers the
    // closed days.
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    use_day_partitions(db, *c);
    ASSERT_TRUE(
        c->exec("DELETE FROM schema_migrations WHERE version = 36; DROP TABLE search_coverage;"
                "DROP FUNCTION llmp_search_doc(text, jsonb)"));
    ASSERT_TRUE(c->exec(
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt,"
        " messages) SELECT 'r-' || i, " +
        day_sql(3) +
        " + i * interval '97 minutes', 'api-1', 'native', '/api/chat', 'chat', 'm', true, CASE WHEN i % 3 = 0"
        " THEN 'find Wombatish ' || i ELSE 'other' END, CASE WHEN i % 5 = 0 THEN jsonb_build_array("
        "jsonb_build_object('role', 'user', 'content', 'wombatish')) END FROM generate_series(0, 60) AS i WHERE " +
        day_sql(3) +
        " + i * interval '97 minutes' < now();"
        // What version 35's indexer did for all but the newest ten.
        "WITH b AS (DELETE FROM search_backlog WHERE request_id IN (SELECT request_id FROM search_backlog"
        " ORDER BY received_at LIMIT (SELECT count(*) - 10 FROM search_backlog)) RETURNING request_id, received_at)"
        " INSERT INTO request_search SELECT q.request_id, q.received_at, coalesce(q.prompt, '') || ' ' ||"
        " coalesce(q.messages::text, '') FROM b JOIN requests q USING (received_at, request_id)"));
    const auto expected = db.scalar(
        "SELECT string_agg(request_id, ',' ORDER BY request_id) FROM requests WHERE "
        "coalesce(prompt, '') || ' ' || coalesce(messages::text, '') ILIKE '%wombatish%'");
    ASSERT_FALSE(expected.empty());
    // request_id is COLLATE "C": PostgreSQL's order is the set's.
    auto joined = [](const std::set<std::string>& ids) {
        std::string out;
        for (const auto& id : ids) {
            out += (out.empty() ? "" : ",") + id;
        }
        return out;
    };
    auto m = pg::migrate(*c);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m.value(), 1);
    EXPECT_EQ(joined(found(*c, "WOMBATISH")), expected) << "after the migration";
    auto indexed = audit::index_search_backlog(*c, 5000, go_on);
    ASSERT_TRUE(indexed) << indexed.error().message;
    auto covered = audit::cover_closed_partitions(*c, std::chrono::seconds{0}, 1000, go_on);
    ASSERT_TRUE(covered) << covered.error().message;
    EXPECT_EQ(covered.value().partitions, 3);
    EXPECT_EQ(db.count("SELECT count(*) FROM request_search WHERE received_at < " + day_sql(0)), 0);
    EXPECT_EQ(joined(found(*c, "WOMBATISH")), expected) << "after the audit's first pass";
}

}  // namespace
}  // namespace llmp::monitor

// The writer against the real PostgreSQL (scripts/test starts one and sets
// LLMPROXY_TEST_DATABASE_URL). Each test works in a scratch database of its own.

#include "audit/pg_writer.hpp"

#include "audit/partitions.hpp"
#include "audit/retention.hpp"
#include "common/clock.hpp"
#include "pg/connection.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace llmp::audit {
namespace {

using namespace std::chrono_literals;
using pg::testing::scratch_database;

/// Records what the writer asks the broker to do.
struct recorder {
    std::mutex mu;
    std::vector<ack_ref> through;
    std::vector<ack_ref> one;
    std::vector<ack_ref> rejected;
    std::vector<std::string> reasons;

    writer_hooks hooks() {
        writer_hooks h;
        h.ack_through = [this](ack_ref a) {
            std::lock_guard lock{mu};
            through.push_back(a);
        };
        h.ack_one = [this](ack_ref a) {
            std::lock_guard lock{mu};
            one.push_back(a);
        };
        h.reject_one = [this](ack_ref a) {
            std::lock_guard lock{mu};
            rejected.push_back(a);
        };
        h.dead_letter = [this](const broker::delivery&, const std::string& reason) {
            std::lock_guard lock{mu};
            reasons.push_back(reason);
            return true;
        };
        return h;
    }
    /// The highest tag acked (multiple) for `epoch`.
    std::uint64_t acked_through(std::uint64_t epoch) {
        std::lock_guard lock{mu};
        std::uint64_t top = 0;
        for (auto a : through) {
            if (a.epoch == epoch) {
                top = std::max(top, a.tag);
            }
        }
        return top;
    }
};

template <class Pred>
bool wait_until(Pred p, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (p()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return p();
}

/// What a revoked privilege looks like to the writer (the test role is a superuser): every
/// insert into requests refused with SQLSTATE 42501, until DROP TRIGGER refuse ON requests.
bool refuse_requests(pg::connection& admin) {
    return static_cast<bool>(
        admin.exec("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'permission denied for table requests' USING ERRCODE = '42501'; "
                   "END $$;"
                   "CREATE TRIGGER refuse BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION refuse()"));
}

pending_row request(const std::string& id, std::uint64_t tag, std::string prompt = "hello") {
    request_row r;
    r.request_id = id;
    r.received_at_ms = 1700000000000 + static_cast<std::int64_t>(tag);
    r.server_id = "api-1";
    r.api_flavour = "native";
    r.route = "/api/generate";
    r.kind = "generate";
    r.model = "mock";
    r.prompt = std::move(prompt);
    return pending_row{record{std::move(r)}, ack_ref{1, tag}, {}};
}

pending_row response(const std::string& id, std::uint64_t tag, std::string text = "answer") {
    response_row r;
    r.request_id = id;
    r.status = "ok";
    r.worker_id = "worker-a";
    r.model = "mock";
    r.done_reason = "stop";
    r.text = std::move(text);
    r.completion_tokens = 3;
    r.completed_at_ms = 1700000000500;
    return pending_row{record{std::move(r)}, ack_ref{1, tag}, {}};
}

audit_config config_for(const std::string& url) {
    audit_config cfg;
    cfg.database_url = url;
    cfg.batch_rows = 100;
    cfg.batch_time = 20ms;
    cfg.retry_min = 50ms;
    cfg.retry_max = 200ms;
    return cfg;
}

/// A started writer over a scratch database of its own (not created yet when `create` is false).
struct writer_under_test {
    explicit writer_under_test(const std::string& url, bool create = true)
        : db{url, create}, cfg{config_for(db.url())}, w{cfg, in, rec.hooks()} {
        w.start();
    }
    scratch_database db;
    audit_config cfg;
    intake in;
    recorder rec;
    pg_writer w;
};

/// The rollups (pg migration 10) equal the rows, whichever path wrote them: per grain, time,
/// worker and status, counts and tokens; the histograms hold one entry per successful response.
void expect_rollups_match(const scratch_database& db) {
    const std::string rolled =
        "SELECT grain, t, worker_id, status, sum(n) AS n, sum(completion_tokens) AS ct FROM response_rollups "
        "GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0";
    const std::string rows =
        "SELECT g, date_trunc(g, completed_at), coalesce(worker_id, ''), status, count(*), sum(completion_tokens) "
        "FROM responses CROSS JOIN (VALUES ('minute'), ('hour')) AS v(g) GROUP BY 1, 2, 3, 4";
    EXPECT_EQ(db.count("SELECT count(*) FROM ((" + rolled + " EXCEPT " + rows + ") UNION ALL (" + rows + " EXCEPT " +
                       rolled + ")) d"),
              0)
        << "response_rollups differ from responses";
    EXPECT_EQ(db.count("SELECT coalesce(sum((e - ((e % 256) + 256) % 256) / 256), 0) FROM response_rollups, "
                       "unnest(duration_hist) AS e WHERE grain = 'hour'"),
              db.count("SELECT count(*) FROM responses WHERE status = 'ok' AND duration_ms IS NOT NULL"));
    EXPECT_EQ(db.count("SELECT coalesce(sum(n), 0) FROM request_rollups WHERE grain = 'minute'"),
              db.count("SELECT count(*) FROM requests"));
}

TEST(pg_writer, batch_insert_is_idempotent_on_request_id) {
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    for (std::uint64_t i = 1; i <= 50; ++i) {
        in.push(request("r-" + std::to_string(i), i));
    }
    // Redelivered copies, one inside the same stream of rows and one later.
    in.push(request("r-1", 51));
    in.push(response("r-1", 52));
    in.push(response("r-1", 53, "a second final for the same request"));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 53; })) << "acks after commit";
    for (std::uint64_t i = 1; i <= 50; ++i) {
        in.push(request("r-" + std::to_string(i), 53 + i, "changed"));
    }
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 103; }));
    w.stop();
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 50);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 1);
    EXPECT_EQ(db.scalar("SELECT text FROM responses WHERE request_id = 'r-1'"), "answer") << "the first one stays";
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE prompt = 'changed'"), 0);
    EXPECT_EQ(db.scalar("SELECT received_at = to_timestamp(1700000000.001) FROM requests WHERE request_id = 'r-1'"),
              "t")
        << "timestamps come from the event";
    auto s = w.stats();
    EXPECT_EQ(s.rows, 103u);
    EXPECT_GE(s.staged_batches, 1u) << "batches holding stored ids go through the staging tables";
    EXPECT_TRUE(rec.reasons.empty());
    expect_rollups_match(db);
}

TEST(pg_writer, new_rows_are_copied_straight_into_the_tables_with_exact_timestamps) {
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    for (std::uint64_t i = 1; i <= 20; ++i) {
        auto row = request("n-" + std::to_string(i), 2 * i - 1);
        std::get<request_row>(row.rec).deadline_ms = 1700000060000 + static_cast<std::int64_t>(i);
        in.push(std::move(row));
        in.push(response("n-" + std::to_string(i), 2 * i));
    }
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 40; }));
    w.stop();
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 20);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 20);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE received_at = timestamptz 'epoch' + "
                       "(1700000000000 + 2 * substr(request_id, 3)::int - 1) * interval '1 millisecond' AND "
                       "deadline_at = timestamptz 'epoch' + (1700000060000 + substr(request_id, 3)::int) * "
                       "interval '1 millisecond'"),
              20)
        << "event times to the millisecond";
    EXPECT_EQ(db.count("SELECT count(*) FROM responses WHERE completed_at = timestamptz 'epoch' + 1700000000500 * "
                       "interval '1 millisecond' AND ingested_at >= completed_at"),
              20);
    EXPECT_EQ(w.stats().staged_batches, 0u) << "no duplicates: the direct COPY path";
    expect_rollups_match(db);
}

pending_row verdict(const std::string& id, std::uint64_t tag, std::string code) {
    response_row r;
    r.request_id = id;
    r.reported_by = "api";
    r.status = code == "cancelled" ? "cancelled" : "error";
    r.error_code = std::move(code);
    r.error_message = "what the client was told";
    r.worker_id = "worker-a";
    r.model = "mock";
    r.completion_tokens = 2;
    r.completed_at_ms = 1700000000400;
    return pending_row{record{std::move(r)}, ack_ref{1, tag}, {}};
}

TEST(pg_writer, an_api_verdict_and_the_workers_report_merge_in_either_order) {
    // The API server's verdict decides status and error; the worker's report keeps the text and
    // counts; further copies of either change nothing.
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    in.push(response("report-first", 1));
    in.push(verdict("verdict-first", 2, "timeout"));
    in.push(verdict("verdict-alone", 3, "worker_lost"));
    in.push(verdict("cancelled", 4, "cancelled"));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 4; }));
    in.push(verdict("report-first", 5, "worker_lost"));
    in.push(response("verdict-first", 6, "partial"));
    in.push(verdict("same-batch", 7, "client_too_slow"));
    in.push(response("same-batch", 8, "cut off"));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 8; }));
    in.push(response("report-first", 9, "a redelivered report"));
    in.push(verdict("verdict-first", 10, "worker_lost"));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 10; }));
    w.stop();
    auto row = [&](const char* id) {
        return db.scalar(std::string{"SELECT concat_ws('|', status, error_code, coalesce(done_reason, '-'), text, "
                                     "completion_tokens, reported_by) FROM responses WHERE request_id = '"} +
                         id + "'");
    };
    EXPECT_EQ(row("report-first"), "error|worker_lost|-|answer|3|both");
    EXPECT_EQ(row("verdict-first"), "error|timeout|-|partial|3|both");
    EXPECT_EQ(row("same-batch"), "error|client_too_slow|-|cut off|3|both");
    EXPECT_EQ(row("verdict-alone"), "error|worker_lost|-||2|api");
    EXPECT_EQ(row("cancelled"), "cancelled|cancelled|-||2|api");
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 5);
    EXPECT_TRUE(rec.reasons.empty());
    expect_rollups_match(db);
}

/// `p` as received (a request) or answering a request received (a response) at `ms`.
pending_row received_at(pending_row p, std::int64_t ms) {
    if (auto* q = std::get_if<request_row>(&p.rec)) {
        q->received_at_ms = ms;
    } else {
        std::get<response_row>(p.rec).request_received_at_ms = ms;
    }
    return p;
}

TEST(pg_writer, a_database_converted_to_day_partitions_keeps_its_rows_the_writers_paths_and_drops_expired_days) {
    // pg migration 29 on a database at version 28 with rows in it (an answered request, an
    // unanswered one, a verdict), then the writer's paths on the partitioned tables, then
    // retention dropping whole days.
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(
        c->exec("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"));
    for (const auto& m : pg::all_migrations()) {
        if (m.version <= 28) {
            ASSERT_TRUE(c->exec(m.sql)) << m.version;
            ASSERT_TRUE(c->query("INSERT INTO schema_migrations (version, name) VALUES ($1::int, 'x')",
                                 {std::to_string(m.version)}));
        }
    }
    ASSERT_TRUE(c->exec(
        "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
        " SELECT 'old-' || i, now() - i * interval '3 hours', 'api-1', 'native', '/api/generate', 'generate',"
        " 'mock', true, 'p' FROM generate_series(1, 20) AS i;"
        "INSERT INTO responses (request_id, status, model, worker_id, text, completion_tokens, duration_ms,"
        " completed_at, reported_by)"
        " SELECT 'old-' || i, CASE WHEN i = 9 THEN 'error' ELSE 'ok' END, 'mock', 'worker-a', 'old answer', 2, 50,"
        " now() - i * interval '3 hours' + interval '2 seconds', CASE WHEN i = 9 THEN 'api' ELSE 'worker' END"
        " FROM generate_series(1, 20) AS i WHERE i <> 7"));
    auto applied = pg::migrate(*c);
    ASSERT_TRUE(applied) << applied.error().message;
    // Every migration after 28 (29, the partitions, among them).
    const auto later = std::count_if(pg::all_migrations().begin(), pg::all_migrations().end(),
                                     [](const pg::migration& m) { return m.version > 28; });
    EXPECT_EQ(applied.value(), later);
    for (const char* t : {"requests", "responses"}) {
        EXPECT_EQ(db.scalar(std::string{"SELECT relkind FROM pg_class WHERE oid = '"} + t + "'::regclass"), "p") << t;
    }
    // Every row still there, and readable as the detail page reads it (by id, across partitions).
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 20);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 19);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests q JOIN responses r USING (request_id) WHERE r.text = 'old "
                       "answer' AND q.prompt = 'p'"),
              19);
    EXPECT_EQ(db.scalar("SELECT string_agg(request_id, ',') FROM pending_requests"), "old-7");

    ASSERT_TRUE(create_day_partitions(*c, "now", 3));
    // The first day after the legacy partition's bound (two days after the conversion's day).
    const auto day_ms = std::stoll(
        db.scalar("SELECT (extract(epoch FROM date_trunc('day', now(), 'UTC') + interval '2 days 1 hour') * 1000)"
                  "::bigint"));
    const auto old9_ms = std::stoll(
        db.scalar("SELECT (extract(epoch FROM received_at) * 1000)::bigint FROM requests WHERE request_id = 'old-9'"));
    const auto old7_ms = std::stoll(
        db.scalar("SELECT (extract(epoch FROM received_at) * 1000)::bigint FROM requests WHERE request_id = 'old-7'"));
    {
        auto cfg = config_for(db.url());
        intake in;
        recorder rec;
        pg_writer w{cfg, in, rec.hooks()};
        w.start();
        for (std::uint64_t i = 1; i <= 10; ++i) {
            in.push(received_at(request("new-" + std::to_string(i), i), day_ms + static_cast<std::int64_t>(i)));
        }
        in.push(received_at(response("new-1", 11), day_ms + 1));
        in.push(received_at(verdict("new-2", 12, "timeout"), day_ms + 2));
        in.push(received_at(response("old-7", 13, "late answer"), old7_ms));  // into the legacy partition
        ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 13; }));
        // Redeliveries (the duplicate path) and the worker's report meeting the verdict (the merge).
        in.push(received_at(request("new-1", 14, "changed"), day_ms + 1));
        in.push(received_at(response("new-1", 15, "a second final"), day_ms + 1));
        in.push(received_at(response("new-2", 16, "partial"), day_ms + 2));
        // A worker's report, with the request's time, meeting a verdict stored before the
        // conversion (without it): they still merge.
        in.push(received_at(response("old-9", 17, "late report"), old9_ms));
        ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 17; }));
        w.stop();
        EXPECT_TRUE(rec.reasons.empty());
        EXPECT_GE(w.stats().staged_batches, 1u);
    }
    const std::string day_part =
        db.scalar("SELECT 'requests_p' || to_char(date_trunc('day', now(), 'UTC') + interval '2 days', 'YYYYMMDD')");
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE tableoid = '" + day_part + "'::regclass"), 10);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE prompt = 'changed'"), 0);
    EXPECT_EQ(db.scalar("SELECT string_agg(text || '|' || reported_by, ',') FROM responses WHERE request_id = 'new-1'"),
              "answer|worker")
        << "one response per request: the first stays";
    EXPECT_EQ(db.scalar("SELECT concat_ws('|', status, error_code, text, reported_by) FROM responses"
                        " WHERE request_id = 'new-2'"),
              "error|timeout|partial|both");
    EXPECT_EQ(db.scalar("SELECT text FROM responses WHERE request_id = 'old-7'"), "late answer");
    EXPECT_EQ(db.scalar("SELECT string_agg(concat_ws('|', status, text, reported_by), ',') FROM responses"
                        " WHERE request_id = 'old-9'"),
              "error|late report|both");
    EXPECT_EQ(db.scalar("SELECT string_agg(request_id, ',' ORDER BY request_id) FROM pending_requests"),
              "new-10,new-3,new-4,new-5,new-6,new-7,new-8,new-9");
    expect_rollups_match(db);

    // Retention at its own time drops nothing of this (a week); a day later than the new rows'
    // day, that day goes whole, and the legacy partition, whose bound is past too.
    auto pass = apply_retention(*c, {7, 0, 1000}, [] { return true; });
    ASSERT_TRUE(pass) << pass.error().message;
    EXPECT_EQ(pass.value().partitions, 0);
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 30);
    auto dropped =
        drop_expired_partitions(*c, db.scalar("SELECT (date_trunc('day', now(), 'UTC') + interval '3 days')::text"));
    ASSERT_TRUE(dropped) << dropped.error().message;
    EXPECT_EQ(dropped.value().partitions, 4) << "the new rows' day and the legacy partition, of both tables";
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 0);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 0);
    EXPECT_EQ(db.scalar("SELECT to_regclass('requests_legacy') IS NULL AND to_regclass('" + day_part +
                        "') IS NULL AND to_regclass('requests_default') IS NOT NULL"),
              "t");
    EXPECT_EQ(db.count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'responses'::regclass"), 2)
        << "the DEFAULT partition and the last day ahead stay";
}

pending_row with_key(pending_row p, const std::string& id, const std::string& name) {
    std::visit(
        [&](auto& row) {
            if constexpr (requires { row.key_id; }) {
                row.key_id = id;
                row.key_name = name;
            }
        },
        p.rec);
    return p;
}

TEST(pg_writer, the_api_key_is_stored_on_the_direct_and_the_staged_path_and_null_without_one) {
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    in.push(with_key(request("keyed", 1), "k-1", "team-a"));
    in.push(request("open", 2));
    in.push(with_key(response("keyed", 3), "k-1", "team-a"));
    in.push(response("open", 4));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 4; }));
    EXPECT_EQ(w.stats().staged_batches, 0u);
    // The staged path: a redelivered request, and a verdict meeting a worker report that lacks
    // the key (an older worker): the key stays.
    in.push(with_key(request("keyed", 5), "k-1", "team-a"));
    in.push(with_key(request("staged", 6), "k-2", "team \"b\""));
    in.push(with_key(verdict("staged", 7, "timeout"), "k-2", "team \"b\""));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 7; }));
    in.push(response("staged", 8, "partial"));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 8; }));
    w.stop();
    EXPECT_GE(w.stats().staged_batches, 1u);
    auto keys = [&](const char* table, const char* id) {
        return db.scalar(std::string{"SELECT coalesce(key_id, 'NULL') || '|' || coalesce(key_name, 'NULL') FROM "} +
                         table + " WHERE request_id = '" + id + "'");
    };
    EXPECT_EQ(keys("requests", "keyed"), "k-1|team-a");
    EXPECT_EQ(keys("responses", "keyed"), "k-1|team-a");
    EXPECT_EQ(keys("requests", "open"), "NULL|NULL");
    EXPECT_EQ(keys("responses", "open"), "NULL|NULL");
    EXPECT_EQ(keys("requests", "staged"), "k-2|team \"b\"");
    EXPECT_EQ(keys("responses", "staged"), "k-2|team \"b\"");
    EXPECT_EQ(db.scalar("SELECT reported_by || '|' || text FROM responses WHERE request_id = 'staged'"),
              "both|partial");
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 3);
}

TEST(pg_writer, nul_bytes_never_reach_postgresql) {
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    request_message m;
    m.request_id = "r-nul";
    m.server_id = "api-1";
    m.model = "mock";
    m.messages = nlohmann::json::array({{{"role", "user"}, {"content", std::string{"a\0b", 3}}}});
    broker::delivery d;
    d.body = encode(m);
    auto decoded = decode_record(source::requests, d, 1);
    ASSERT_TRUE(decoded);
    in.push(pending_row{std::move(decoded.value()), ack_ref{1, 1}, {}});
    final_message f;
    f.text = std::string{"x\0y\ttab\\", 8};
    broker::delivery fd;
    fd.routing_key = "api-1.final";
    fd.props.correlation_id = "r-nul";
    fd.body = encode(f);
    auto fdec = decode_record(source::responses, fd, 1);
    ASSERT_TRUE(fdec);
    in.push(pending_row{std::move(fdec.value()), ack_ref{1, 2}, {}});
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 2; }));
    w.stop();
    EXPECT_EQ(db.scalar("SELECT messages->0->>'content' FROM requests"), "ab");
    EXPECT_EQ(db.scalar("SELECT text FROM responses"), "xy\ttab\\");
}

TEST(pg_writer, a_row_postgresql_refuses_is_dead_lettered_and_the_rest_stored) {
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    in.push(request("good-1", 1));
    auto bad = request("bad", 2);
    std::get<request_row>(bad.rec).messages_json = "{not json";
    in.push(std::move(bad));
    in.push(request("good-2", 3));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 3; }));
    w.stop();
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 2);
    std::lock_guard lock{rec.mu};
    ASSERT_EQ(rec.reasons.size(), 1u);
    EXPECT_NE(rec.reasons[0].find("refused by PostgreSQL"), std::string::npos) << rec.reasons[0];
    ASSERT_EQ(rec.one.size(), 1u);
    EXPECT_EQ(rec.one[0].tag, 2u);
}

TEST(pg_writer, a_row_past_postgresqls_limits_is_dead_lettered_with_its_sqlstate_and_the_rest_stored) {
    // 54001 (stack depth limit exceeded) is outside the data classes 22/23: it used to be
    // retried forever, stalling the audit queues. Batches are split until the row is alone.
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    constexpr std::size_t depth = 200000;  // far past max_stack_depth for PostgreSQL's JSON parser
    for (std::uint64_t i = 1; i <= 9; ++i) {
        auto row = request("deep-" + std::to_string(i), i);
        if (i == 6) {
            std::get<request_row>(row.rec).messages_json = std::string(depth, '[') + std::string(depth, ']');
        }
        in.push(std::move(row));
    }
    in.push(response("deep-1", 10));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 10; })) << "the writer is stuck on the batch";
    // The writer goes on with the next batch.
    in.push(request("after", 11));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 11; }));
    w.stop();
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 9) << "8 good ones and the one after";
    EXPECT_EQ(db.count("SELECT count(*) FROM requests WHERE request_id = 'deep-6'"), 0);
    EXPECT_EQ(db.count("SELECT count(*) FROM responses"), 1);
    std::lock_guard lock{rec.mu};
    ASSERT_EQ(rec.reasons.size(), 1u);
    EXPECT_NE(rec.reasons[0].find("54001"), std::string::npos) << rec.reasons[0];
    EXPECT_NE(rec.reasons[0].find("stack depth"), std::string::npos) << rec.reasons[0];
    ASSERT_EQ(rec.one.size(), 1u);
    EXPECT_EQ(rec.one[0].tag, 6u) << "the dead-lettered delivery is settled on its own";
    EXPECT_EQ(w.stats().dead_lettered, 1u);
}

TEST(pg_writer, a_database_refusing_every_row_holds_the_batch_and_dead_letters_nothing) {
    // A schema or privilege problem (SQLSTATE class 42) is the database's fault, not the rows':
    // splitting the batch would dead-letter every one of them. Hold and retry until it is fixed.
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    in.push(request("before", 1));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 1; }));
    auto admin = db.connect();
    ASSERT_TRUE(refuse_requests(*admin));
    for (std::uint64_t i = 2; i <= 4; ++i) {
        in.push(request("held-" + std::to_string(i), i));
    }
    ASSERT_TRUE(wait_until([&] { return w.stats().db_failures >= 3; }));
    EXPECT_EQ(rec.acked_through(1), 1u);
    {
        std::lock_guard lock{rec.mu};
        EXPECT_TRUE(rec.reasons.empty()) << rec.reasons.front();
        EXPECT_TRUE(rec.one.empty());
        EXPECT_TRUE(rec.rejected.empty());
    }
    ASSERT_TRUE(admin->exec("DROP TRIGGER refuse ON requests"));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 4; }));
    w.stop();
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 4);
    std::lock_guard lock{rec.mu};
    EXPECT_TRUE(rec.reasons.empty());
}

TEST(pg_writer, says_it_is_behind_while_it_holds_a_full_batch_and_no_longer_once_caught_up) {
    // The search indexer yields to the ingest while this says so (audit/search_index.hpp).
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    in.push(request("before", 1));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 1; }));
    ASSERT_TRUE(wait_until([&] { return !w.behind(); }));
    auto admin = db.connect();
    ASSERT_TRUE(refuse_requests(*admin));
    const auto rows = static_cast<std::uint64_t>(cfg.batch_rows) + 50;
    for (std::uint64_t i = 2; i <= rows + 1; ++i) {
        in.push(request("held-" + std::to_string(i), i));
    }
    ASSERT_TRUE(wait_until([&] { return w.stats().db_failures >= 2; }));
    EXPECT_TRUE(w.behind()) << "a full batch held, more waiting";
    ASSERT_TRUE(admin->exec("DROP TRIGGER refuse ON requests"));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == rows + 1; }));
    EXPECT_TRUE(wait_until([&] { return !w.behind(); })) << "caught up";
    w.stop();
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), static_cast<std::int64_t>(rows + 1));
}

TEST(pg_writer, waits_for_the_database_and_loses_nothing) {
    LLMP_REQUIRE_DATABASE();
    // The database does not exist yet: the writer cannot connect, must not ack, and must pick
    // everything up (migrations included) once it appears.
    writer_under_test t{db_url, /*create=*/false};
    auto& [db, cfg, in, rec, w] = t;
    for (std::uint64_t i = 1; i <= 10; ++i) {
        in.push(request("r-" + std::to_string(i), i));
    }
    worker_heartbeat hb{.worker_id = "worker-a",
                        .host = "h",
                        .provider = "mock",
                        .models = {"mock:latest"},
                        .requests_total = 7,
                        .tokens_total = 70,
                        .sent_at_ms = 1700000000000};
    in.push_heartbeat(std::move(hb));
    ASSERT_TRUE(wait_until([&] { return w.stats().db_failures == 0 && !w.stats().db_up; }, 5s));
    EXPECT_EQ(rec.acked_through(1), 0u);
    db.create();
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 10; }));
    w.stop();
    EXPECT_EQ(db.count("SELECT count(*) FROM requests"), 10);
    EXPECT_EQ(db.scalar("SELECT requests_total || ' ' || array_to_string(models, ',') FROM workers"), "7 mock:latest");
}

TEST(pg_writer, workers_table_keeps_the_newest_heartbeat) {
    LLMP_REQUIRE_DATABASE();
    writer_under_test t{db_url};
    auto& [db, cfg, in, rec, w] = t;
    in.push_heartbeat(worker_heartbeat{.worker_id = "w", .requests_total = 5, .sent_at_ms = 1700000002000});
    ASSERT_TRUE(wait_until([&] { return w.stats().heartbeats == 1; }));
    in.push_heartbeat(worker_heartbeat{.worker_id = "w", .requests_total = 1, .sent_at_ms = 1700000001000});
    ASSERT_TRUE(wait_until([&] { return w.stats().heartbeats == 2; }));
    in.push_heartbeat(
        worker_heartbeat{.worker_id = "w", .requests_total = 9, .sent_at_ms = 1700000003000, .leaving = true});
    ASSERT_TRUE(wait_until([&] { return w.stats().heartbeats == 3; }));
    w.stop();
    EXPECT_EQ(db.scalar("SELECT requests_total FROM workers"), "9");
    EXPECT_EQ(db.scalar("SELECT first_seen = to_timestamp(1700000002) FROM workers"), "t")
        << "an older heartbeat arriving late changes nothing";
    EXPECT_EQ(db.scalar("SELECT left_at IS NOT NULL FROM workers"), "t");
}

pending_row served_by(pending_row p, const std::string& server, std::int64_t completed_at_ms) {
    auto& r = std::get<response_row>(p.rec);
    r.server_id = server;
    r.completed_at_ms = completed_at_ms;
    return p;
}

pending_row confirmation(const std::string& server, std::uint64_t tag, std::vector<std::string> ids) {
    return pending_row{record{delivery_confirmation{server, unix_ms(), std::move(ids), false}}, ack_ref{1, tag}, {}};
}

TEST(pg_writer, the_unconfirmed_answers_of_a_silent_api_server_become_api_lost_and_nothing_else_does) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto cfg = config_for(db.url());
    cfg.api_lost_after = 300ms;
    intake in;
    recorder rec;
    pg_writer w{cfg, in, rec.hooks()};
    w.start();
    const auto t0 = unix_ms();
    std::uint64_t tag = 0;
    in.push(served_by(response("delivered", ++tag), "api-gone", t0 - 100));
    in.push(served_by(response("cut", ++tag), "api-gone", t0 - 100));
    in.push(served_by(response("verdicted", ++tag), "api-gone", t0 - 100));
    in.push(served_by(verdict("verdicted", ++tag, "timeout"), "api-gone", t0 - 100));
    in.push(served_by(response("older-server", ++tag), "api-old", t0 - 100));  // never confirms anything
    in.push(served_by(response("live-ok", ++tag), "api-live", t0 - 100));
    in.push(confirmation("api-gone", ++tag, {"delivered"}));
    // api-gone says nothing more; api-live goes on confirming (its keep-alive) until the audit
    // judges api-gone lost.
    in.push(confirmation("api-live", ++tag, {"live-ok"}));
    const auto stored = tag;
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == stored; }));  // the tables exist now
    ASSERT_TRUE(wait_until([&] {
        in.push(confirmation("api-live", ++tag, {}));
        std::this_thread::sleep_for(50ms);
        return db.scalar("SELECT count(*) FROM api_servers WHERE lost_at IS NOT NULL") != "0";
    }));
    in.push(served_by(response("late", ++tag), "api-gone", unix_ms()));  // its worker finished after its loss
    const auto last = ++tag;
    in.push(confirmation("api-live", last, {}));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == last; }));
    w.stop();
    auto row = [&](const char* id) {
        return db.scalar(std::string{"SELECT concat_ws('|', status, coalesce(error_code, '-'), text, reported_by) "
                                     "FROM responses WHERE request_id = '"} +
                         id + "'");
    };
    EXPECT_EQ(row("delivered"), "ok|-|answer|worker") << "confirmed: its client had it";
    EXPECT_EQ(row("cut"), "error|api_lost|answer|worker") << "never confirmed: its client was cut";
    EXPECT_EQ(row("verdicted"), "error|timeout|answer|both") << "the server's own verdict stays";
    EXPECT_EQ(row("older-server"), "ok|-|answer|worker") << "a server that never confirms is never judged";
    EXPECT_EQ(row("live-ok"), "ok|-|answer|worker");
    EXPECT_EQ(row("late"), "error|api_lost|answer|worker") << "stored after the judgement";
    EXPECT_EQ(db.scalar("SELECT string_agg(server_id, ',' ORDER BY server_id) FROM api_servers WHERE lost_at IS "
                        "NOT NULL"),
              "api-gone");
    EXPECT_EQ(db.count("SELECT count(*) FROM api_deliveries"), 2) << "keep-alives store no ledger row";
    EXPECT_TRUE(rec.reasons.empty());
    expect_rollups_match(db);
}

TEST(pg_writer, a_server_that_left_cleanly_is_never_judged_lost) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto cfg = config_for(db.url());
    cfg.api_lost_after = 100ms;
    intake in;
    recorder rec;
    pg_writer w{cfg, in, rec.hooks()};
    w.start();
    in.push(served_by(response("unconfirmed", 1), "api-stopped", unix_ms() - 100));
    auto bye = confirmation("api-stopped", 2, {});
    std::get<delivery_confirmation>(bye.rec).leaving = true;
    in.push(std::move(bye));
    ASSERT_TRUE(wait_until([&] { return rec.acked_through(1) == 2; }));
    // Idle, the writer still judges once a second: give it two chances.
    std::this_thread::sleep_for(2500ms);
    w.stop();
    EXPECT_EQ(db.scalar("SELECT status FROM responses WHERE request_id = 'unconfirmed'"), "ok");
    EXPECT_EQ(db.scalar("SELECT (left_at IS NOT NULL)::text || (lost_at IS NULL)::text FROM api_servers"), "truetrue");
}

}  // namespace
}  // namespace llmp::audit

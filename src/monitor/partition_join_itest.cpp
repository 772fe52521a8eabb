// The monitor's pairing of requests and responses by the partition column (issue 19;
// partition_join_sql.hpp) against the real PostgreSQL: a response carrying its request's time
// and one stored without it ('-infinity', by a process older than pg migration 29) are both
// found — in the request list, by `pending`, and for the model and queue wait of /api/models.

#include "monitor/partition_join_sql.hpp"
#include "monitor/request_queries.hpp"
#include "monitor/stats_queries.hpp"

#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace llmp::monitor {
namespace {

class partition_join : public ::testing::Test {
protected:
    void SetUp() override {
        LLMP_REQUIRE_DATABASE();
        db_.emplace(db_url);
        c_ = db_->connect();
        ASSERT_TRUE(pg::migrate(*c_));
        // 'timed' answered with its request's time, 'untimed' without it, 'open' unanswered.
        // Both answers are API verdicts naming no model (the request's stands), each with a
        // known queue wait: 10 s and 20 s between receipt and the generation's start.
        ASSERT_TRUE(c_->exec(R"sql(
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)
VALUES ('timed', now() - interval '10 minutes', 'api-1', 'native', '/api/generate', 'generate', 'm1', true, 'p'),
       ('untimed', now() - interval '20 minutes', 'api-1', 'native', '/api/generate', 'generate', 'm2', true, 'p'),
       ('open', now() - interval '5 minutes', 'api-1', 'native', '/api/generate', 'generate', 'm3', true, 'p');
INSERT INTO responses (request_id, status, model, text, duration_ms, completed_at, request_received_at)
SELECT 'timed', 'ok', '', 'a', 50000, received_at + interval '60 seconds', received_at FROM requests
WHERE request_id = 'timed';
INSERT INTO responses (request_id, status, model, text, duration_ms, completed_at, request_received_at)
SELECT 'untimed', 'ok', '', 'a', 10000, received_at + interval '30 seconds', '-infinity' FROM requests
WHERE request_id = 'untimed';
)sql"));
    }

    std::optional<pg::testing::scratch_database> db_;
    std::unique_ptr<pg::connection> c_;
};

TEST_F(partition_join, the_request_list_finds_answers_with_and_without_the_request_s_time) {
    request_filter f;
    f.limit = 10;
    auto all = query_requests(*c_, f);
    ASSERT_TRUE(all) << all.error().message;
    std::map<std::string, std::string> status;
    for (const auto& r : all.value()["requests"]) {
        status[r["request_id"].get<std::string>()] = r["status"].get<std::string>();
    }
    EXPECT_EQ(status, (std::map<std::string, std::string>{{"timed", "ok"}, {"untimed", "ok"}, {"open", "pending"}}));

    f.status = "pending";
    auto pending = query_requests(*c_, f);
    ASSERT_TRUE(pending) << pending.error().message;
    ASSERT_EQ(pending.value()["requests"].size(), 1u);
    EXPECT_EQ(pending.value()["requests"][0]["request_id"], "open");
}

TEST_F(partition_join, models_take_the_request_s_model_and_receipt_either_way) {
    auto m = query_models(*c_, 3600);
    ASSERT_TRUE(m) << m.error().message;
    std::map<std::string, nlohmann::json> by_model;
    for (const auto& row : m.value()["models"]) {
        by_model[row["model"].get<std::string>()] = row;
    }
    ASSERT_EQ(by_model.size(), 2u) << m.value().dump();
    EXPECT_EQ(by_model["m1:latest"]["requests"], 1);
    EXPECT_EQ(by_model["m2:latest"]["requests"], 1);
    EXPECT_NEAR(by_model["m1:latest"]["wait_ms"]["p50"].get<double>(), 10000.0, 1.0);
    EXPECT_NEAR(by_model["m2:latest"]["wait_ms"]["p50"].get<double>(), 20000.0, 1.0);
}

TEST_F(partition_join, the_sql_names_the_partition_columns) {
    EXPECT_EQ(response_of_request_sql("q", "p"),
              "p.request_id = q.request_id AND p.request_received_at IN (q.received_at, '-infinity')");
    const auto lookup = request_column_of_response_sql("model");
    EXPECT_NE(lookup.find("q_.received_at = r.request_received_at"), std::string::npos) << lookup;
    EXPECT_NE(lookup.find("r.request_received_at = '-infinity'"), std::string::npos) << lookup;
}

}  // namespace
}  // namespace llmp::monitor

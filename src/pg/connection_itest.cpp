// pg::connection against the real PostgreSQL (scripts/test starts one and sets
// LLMPROXY_TEST_DATABASE_URL).

#include "pg/connection.hpp"

#include "pg/testing/require_database.hpp"

#include <gtest/gtest.h>

namespace llmp::pg {
namespace {

TEST(pg_connection, a_statement_timeout_is_its_own_error_and_the_connection_stays_usable) {
    LLMP_REQUIRE_DATABASE();
    auto c = connection::open(db_url);
    ASSERT_TRUE(c) << c.error().message;
    auto& conn = *c.value();
    ASSERT_TRUE(conn.exec("SET statement_timeout = 50"));
    auto slow = conn.query("SELECT pg_sleep(5)");
    ASSERT_FALSE(slow);
    EXPECT_EQ(slow.error().code, timed_out) << slow.error().message;
    EXPECT_TRUE(conn.healthy());
    auto next = conn.query("SELECT 1");
    ASSERT_TRUE(next) << next.error().message;
    EXPECT_EQ(next.value().rows.at(0).at(0).value_or(""), "1");
}

}  // namespace
}  // namespace llmp::pg

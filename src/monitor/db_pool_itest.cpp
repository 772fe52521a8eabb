// db_pool against the real PostgreSQL (scripts/test sets LLMPROXY_TEST_DATABASE_URL): what a
// failing query or an unreachable server gives the HTTP handlers. PostgreSQL's own text (table
// names, hosts, users) must never be in it.

#include "monitor/db_pool.hpp"

#include "pg/testing/scratch_database.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace llmp::monitor {
namespace {

using namespace std::chrono_literals;

db_reply run_job(db_pool& pool, db_pool::job j) {
    net::io_context ioc;
    auto busy = net::make_work_guard(ioc);  // until the answer is posted back
    db_reply out;
    pool.async_run(std::move(j), net::bind_executor(ioc, [&](db_reply r) {
                       out = std::move(r);
                       busy.reset();
                   }));
    ioc.run();
    return out;
}

/// A port nothing listens on (bound, then closed).
int closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

TEST(db_pool, a_failing_query_answers_a_code_without_postgresql_text) {
    auto url = pg::testing::test_database_url();
    if (!url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*url};
    db_pool pool{db.url(), 1, 5s};
    pool.start();
    auto r = run_job(pool, [](pg::connection& c) -> result<nlohmann::json> {
        auto q = c.query("SELECT * FROM secret_table_of_the_operator");
        if (!q) {
            return q.error();
        }
        return nlohmann::json::object();
    });
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.err.code, "db_error");
    EXPECT_EQ(r.err.message.find("secret_table_of_the_operator"), std::string::npos) << r.err.message;
    EXPECT_EQ(r.err.message.find("42P01"), std::string::npos) << r.err.message;
    EXPECT_TRUE(pool.available()) << "a refused query is not a database outage";
    pool.stop();
}

TEST(db_pool, its_sessions_have_the_statement_timeout_and_no_jit) {
    auto url = pg::testing::test_database_url();
    if (!url) {
        GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
    }
    pg::testing::scratch_database db{*url};
    db_pool pool{db.url(), 1, 4321ms};
    pool.start();
    auto r = run_job(pool, [](pg::connection& c) -> result<nlohmann::json> {
        auto q = c.query("SELECT current_setting('jit'), current_setting('statement_timeout')");
        if (!q) {
            return q.error();
        }
        return nlohmann::json{q.value().rows.at(0).at(0).value(), q.value().rows.at(0).at(1).value()};
    });
    ASSERT_TRUE(r.ok) << r.err.message;
    EXPECT_EQ(r.body, (nlohmann::json{"off", "4321ms"}));
    pool.stop();
}

TEST(db_pool, an_unreachable_server_answers_db_unavailable_without_its_address_or_password) {
    auto url = "postgresql://operator:hunter2@127.0.0.1:" + std::to_string(closed_port()) + "/llmproxy";
    db_pool pool{url, 1, 5s};
    pool.start();
    auto r = run_job(pool, [](pg::connection&) -> result<nlohmann::json> { return nlohmann::json::object(); });
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.err.code, "db_unavailable");
    EXPECT_NE(r.err.message.find("PostgreSQL"), std::string::npos) << r.err.message;
    for (const char* leak : {"hunter2", "127.0.0.1", "refused", "operator"}) {
        EXPECT_EQ(r.err.message.find(leak), std::string::npos) << r.err.message;
    }
    pool.stop();
}

}  // namespace
}  // namespace llmp::monitor

// shared_reads against the real PostgreSQL (through db_pool): tabs that ask at the same instant
// cost one query, a failed answer is not kept, and a wide window's answer that a tab reads is
// read again before it expires while one nobody reads is left to expire (issue 19).

#include "monitor/shared_reads.hpp"

#include "pg/testing/scratch_database.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace llmp::monitor {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// A job that counts its runs and answers {"run": n} from PostgreSQL.
db_pool::job counting_job(std::atomic<int>& runs) {
    return [&runs](pg::connection& c) -> result<json> {
        int n = ++runs;
        auto q = c.query("SELECT $1::int", {std::to_string(n)});
        if (!q) {
            return q.error();
        }
        return json{{"run", std::stoi(*q.value().rows.at(0)[0])}};
    };
}

/// Runs `body` on a one-thread io_context to the end.
template <class F>
void run_on_io(F body) {
    net::io_context ioc;
    net::co_spawn(ioc, body(ioc), net::detached);
    ioc.run();
}

class shared_reads_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto url = pg::testing::test_database_url();
        if (!url) {
            GTEST_SKIP() << "LLMPROXY_TEST_DATABASE_URL is not set (scripts/test sets it)";
        }
        db_ = std::make_unique<pg::testing::scratch_database>(*url);
        pool_ = std::make_unique<db_pool>(db_->url(), 2, 5s);
        pool_->start();
        reads_ = std::make_unique<shared_reads>(*pool_);
    }
    void TearDown() override {
        if (pool_) {
            pool_->stop();
        }
    }
    std::unique_ptr<pg::testing::scratch_database> db_;
    std::unique_ptr<db_pool> pool_;
    std::unique_ptr<shared_reads> reads_;
};

TEST_F(shared_reads_test, callers_that_miss_at_the_same_time_share_one_query) {
    std::atomic<int> runs{0};
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    // The job holds its connection until every caller has asked: each caller's first step runs
    // before the releaser's on this one-thread io_context, so all eight miss while it runs.
    db_pool::job held = [&runs, released](pg::connection& c) -> result<json> {
        released.wait();
        return counting_job(runs)(c);
    };
    std::vector<db_reply> replies;
    net::io_context ioc;
    for (int i = 0; i < 8; ++i) {
        net::co_spawn(
            ioc,
            [&]() -> net::awaitable<void> {
                // ttl 0: nothing is kept, so only the shared run can answer the seven others.
                db_reply r = co_await reads_->read("/api/models|300|now|0", 0ms, held);
                replies.push_back(std::move(r));
            },
            net::detached);
    }
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            release.set_value();
            co_return;
        },
        net::detached);
    ioc.run();
    ASSERT_EQ(replies.size(), 8u);
    for (const auto& r : replies) {
        ASSERT_TRUE(r.ok) << r.err.message;
        EXPECT_EQ(r.body["run"], 1);
    }
    EXPECT_EQ(runs.load(), 1);
    EXPECT_EQ(reads_->queries(), 1u);

    // Asked again after that run ended (and nothing kept): a new query.
    run_on_io([&](net::io_context&) -> net::awaitable<void> {
        db_reply r = co_await reads_->read("/api/models|300|now|0", 0ms, counting_job(runs));
        EXPECT_EQ(r.body["run"], 2);
    });
    EXPECT_EQ(runs.load(), 2);
}

TEST_F(shared_reads_test, a_failed_answer_reaches_its_caller_and_is_not_kept) {
    std::atomic<int> runs{0};
    db_pool::job failing = [&runs](pg::connection& c) -> result<json> {
        ++runs;
        auto q = c.query("SELECT * FROM no_such_table");
        if (!q) {
            return q.error();
        }
        return json::object();
    };
    run_on_io([&](net::io_context&) -> net::awaitable<void> {
        db_reply first = co_await reads_->read("/api/overview|86400|now|0", 10s, failing);
        EXPECT_FALSE(first.ok);
        EXPECT_EQ(first.err.code, "db_error");
        db_reply second = co_await reads_->read("/api/overview|86400|now|0", 10s, failing);
        EXPECT_FALSE(second.ok);
    });
    EXPECT_EQ(runs.load(), 2) << "a failure is asked again, not served from the cache";
}

TEST_F(shared_reads_test, a_wide_window_a_tab_reads_is_read_again_before_it_expires_and_one_nobody_reads_is_not) {
    std::atomic<int> read_by_a_tab{0}, stored_only{0}, short_window{0};
    const auto t0 = shared_reads::clock::now();
    std::size_t rewarmed = 0;
    run_on_io([&](net::io_context&) -> net::awaitable<void> {
        co_await reads_->read("/api/models|604800|now|0", 30s, counting_job(read_by_a_tab));
        co_await reads_->read("/api/models|86400|now|0", 10s, counting_job(stored_only));
        co_await reads_->read("/api/models|3600|now|0", 2s, counting_job(short_window));
        // A tab's next refresh: answered from the cache, so no query...
        db_reply hit = co_await reads_->read("/api/models|604800|now|0", 30s, counting_job(read_by_a_tab));
        EXPECT_EQ(hit.body["run"], 1);
        co_await reads_->read("/api/models|3600|now|0", 2s, counting_job(short_window));
        // ...and 28.5 s on, 1.5 s before it expires, the read one is read again; the 24 h
        // answer nobody read since it was stored is not, nor the 2 s one (too short to keep warm).
        rewarmed = co_await reads_->rewarm_due(t0 + 28500ms);
    });
    EXPECT_EQ(rewarmed, 1u);
    EXPECT_EQ(read_by_a_tab.load(), 2);
    EXPECT_EQ(stored_only.load(), 1);
    EXPECT_EQ(short_window.load(), 1);
    // The re-read answer is what the next refresh gets, without a query.
    run_on_io([&](net::io_context&) -> net::awaitable<void> {
        db_reply r = co_await reads_->read("/api/models|604800|now|0", 30s, counting_job(read_by_a_tab));
        EXPECT_EQ(r.body["run"], 2);
    });
    EXPECT_EQ(read_by_a_tab.load(), 2);
}

}  // namespace
}  // namespace llmp::monitor

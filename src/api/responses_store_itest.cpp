// responses_store against the real PostgreSQL (scripts/test sets LLMPROXY_TEST_DATABASE_URL): a
// stream resumed on another API server than the one that relayed it is read from the audit's
// rows, which land within the audit's batch; an id this server knows nothing of is looked for a
// little longer before the answer is "none".
#include "api/responses_store.hpp"

#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

namespace llmp::api {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

using loaded = result<std::optional<stored_response>>;

/// Runs store.load(id) for a resumable stream on a fresh io_context; `meanwhile` runs on this
/// thread once the load is under way.
template <class Meanwhile>
std::optional<loaded> load_while(responses_store& store, const std::string& id, Meanwhile meanwhile) {
    net::io_context ioc;
    std::optional<loaded> out;
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            auto r = co_await store.load(id, stored_request_kind::resumable_stream);
            out = std::move(r);
        },
        net::detached);
    std::thread runner{[&] { ioc.run(); }};
    meanwhile();
    runner.join();
    return out;
}

/// A started store on `url` that looks for an unknown id for `unknown_wait`.
std::unique_ptr<responses_store> started_store(const std::string& url, std::chrono::milliseconds unknown_wait) {
    responses_store_config cfg;
    cfg.database_url = url;
    cfg.unknown_wait = unknown_wait;
    auto store = std::make_unique<responses_store>(cfg);
    store->start();
    return store;
}

std::string insert_resumable_request(const std::string& id) {
    return "INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, prompt)"
           " VALUES ('" +
           id + "', now(), 'bg.api-a', 'native', '/api/chat', 'chat', 'mock', true, 'p')";
}

TEST(responses_store, a_stream_another_server_relayed_is_found_once_the_audit_stores_it_moments_later) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    // The audit's lag here is the test's own insert, however slow the machine.
    auto store = started_store(db.url(), 10s);

    const auto t0 = clock::now();
    auto found = load_while(*store, "resumed-elsewhere", [&] {
        std::this_thread::sleep_for(150ms);  // the audit's batch: the first read finds nothing
        ASSERT_TRUE(c->exec(insert_resumable_request("resumed-elsewhere")));
    });
    store->stop();
    ASSERT_TRUE(found);
    ASSERT_TRUE(*found) << found->error().message;
    ASSERT_TRUE(found->value().has_value()) << "a resume a moment after another server relayed it is a 404";
    EXPECT_EQ(found->value()->head.request_id, "resumed-elsewhere");
    EXPECT_LT(clock::now() - t0, 5s) << "found long after it was stored";
}

TEST(responses_store, an_id_nobody_relayed_is_none_after_the_short_wait) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    ASSERT_TRUE(pg::migrate(*db.connect()));
    auto store = started_store(db.url(), 300ms);

    const auto t0 = clock::now();
    auto found = load_while(*store, "made-up", [] {});
    const auto took = clock::now() - t0;
    store->stop();
    ASSERT_TRUE(found);
    ASSERT_TRUE(*found) << found->error().message;
    EXPECT_FALSE(found->value().has_value());
    EXPECT_GE(took, 300ms) << "it did not look again before answering none";
}

}  // namespace
}  // namespace llmp::api

// key_refresher against the real PostgreSQL (scripts/test sets LLMPROXY_TEST_DATABASE_URL): it
// picks up new and revoked keys, and keeps the last loaded set while the keys cannot be read.
#include "api/auth.hpp"

#include "keys/key_store.hpp"
#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace llmp::api {
namespace {

using namespace std::chrono_literals;

template <class Pred>
bool eventually(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

TEST(key_refresher, follows_the_table_and_keeps_the_last_set_while_it_cannot_read_it) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    auto a = keys::generate_key();
    ASSERT_TRUE(keys::create_key(*c, {"a", "", {}, std::nullopt}, a));

    key_ring ring;
    auto refresher = key_refresher::start(ring, db.url(), 20ms);
    ASSERT_TRUE(refresher) << refresher.error().message;
    EXPECT_TRUE(ring.find(a.plaintext));

    auto b = keys::generate_key();
    ASSERT_TRUE(keys::create_key(*c, {"b", "", {}, std::nullopt}, b));
    EXPECT_TRUE(eventually([&] { return ring.find(b.plaintext) != nullptr; }));
    ASSERT_TRUE(keys::revoke_key(*c, "b"));
    EXPECT_TRUE(eventually([&] { return ring.find(b.plaintext) == nullptr; }));

    // The keys cannot be read: the last set stays in force.
    ASSERT_TRUE(c->exec("ALTER TABLE api_keys RENAME TO api_keys_away"));
    auto failed = refresher.value()->failed_reloads();
    EXPECT_TRUE(eventually([&] { return refresher.value()->failed_reloads() >= failed + 2; }));
    EXPECT_TRUE(ring.find(a.plaintext));
    EXPECT_EQ(ring.size(), 1u);

    ASSERT_TRUE(c->exec("ALTER TABLE api_keys_away RENAME TO api_keys"));
    ASSERT_TRUE(keys::revoke_key(*c, "a"));
    EXPECT_TRUE(eventually([&] { return ring.size() == 0; }));
    EXPECT_FALSE(ring.find(a.plaintext));
}

TEST(key_refresher, loads_a_change_when_its_commit_is_announced_long_before_the_interval) {
    LLMP_REQUIRE_DATABASE();
    pg::testing::scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    auto a = keys::generate_key();
    ASSERT_TRUE(keys::create_key(*c, {"a", "", {}, std::nullopt}, a));

    key_ring ring;
    auto refresher = key_refresher::start(ring, db.url(), 1h);  // no periodic reload in this test
    ASSERT_TRUE(refresher) << refresher.error().message;
    ASSERT_TRUE(ring.find(a.plaintext));

    auto b = keys::generate_key();
    ASSERT_TRUE(keys::create_key(*c, {"b", "", {}, std::nullopt}, b));
    EXPECT_TRUE(eventually([&] { return ring.find(b.plaintext) != nullptr; }));
    ASSERT_TRUE(keys::revoke_key(*c, "a"));
    EXPECT_TRUE(eventually([&] { return ring.find(a.plaintext) == nullptr; }));
}

TEST(key_refresher, does_not_start_without_its_database) {
    key_ring ring;
    auto r = key_refresher::start(ring, "postgresql://nobody@127.0.0.1:1/none", 1s);
    EXPECT_FALSE(r);
}

}  // namespace
}  // namespace llmp::api

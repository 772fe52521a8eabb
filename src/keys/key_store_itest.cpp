// The api_keys table against the real PostgreSQL (scripts/test sets LLMPROXY_TEST_DATABASE_URL);
// each test in a scratch database of its own.

#include "keys/key_store.hpp"

#include "pg/migrations.hpp"
#include "pg/testing/require_database.hpp"
#include "pg/testing/scratch_database.hpp"

#include <gtest/gtest.h>

namespace llmp::keys {
namespace {

using pg::testing::scratch_database;

TEST(key_store, creates_lists_loads_and_revokes_keys_storing_only_hash_and_prefix) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));

    auto k = generate_key();
    auto made = create_key(*c, {"team-a", "alice", {"llama3*", "mock*"}, 30}, k);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(made.value().name, "team-a");
    EXPECT_EQ(made.value().owner, "alice");
    EXPECT_EQ(made.value().prefix, k.prefix);
    EXPECT_EQ(made.value().allowed_models, (std::vector<std::string>{"llama3*", "mock*"}));
    EXPECT_TRUE(made.value().expires_at);
    EXPECT_FALSE(made.value().revoked_at);
    EXPECT_EQ(db.count("SELECT count(*) FROM api_keys WHERE key_hash = '" + k.hash + "'"), 1);
    EXPECT_EQ(
        db.count("SELECT count(*) FROM api_keys WHERE position('" + k.plaintext.substr(5) + "' IN api_keys::text) > 0"),
        0)
        << "the plaintext is stored nowhere";

    auto other = generate_key();
    ASSERT_TRUE(create_key(*c, {"team-b", "", {}, std::nullopt}, other));
    auto dup = create_key(*c, {"team-a", "", {}, std::nullopt}, generate_key());
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code, "key_name_taken");

    auto listed = list_keys(*c);
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed.value().size(), 2u);
    EXPECT_EQ(listed.value()[1].owner, "");
    EXPECT_TRUE(listed.value()[1].allowed_models.empty());
    EXPECT_FALSE(listed.value()[1].expires_at);

    auto usable = load_usable_keys(*c);
    ASSERT_TRUE(usable) << usable.error().message;
    ASSERT_EQ(usable.value().size(), 2u);

    ASSERT_TRUE(revoke_key(*c, "team-a"));
    auto again = revoke_key(*c, "team-a");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "key_not_found");
    EXPECT_EQ(revoke_key(*c, "nobody").error().code, "key_not_found");
    usable = load_usable_keys(*c);
    ASSERT_TRUE(usable);
    ASSERT_EQ(usable.value().size(), 1u);
    EXPECT_EQ(usable.value()[0].hash, other.hash);
    EXPECT_EQ(usable.value()[0].key.name, "team-b");
    EXPECT_TRUE(list_keys(*c).value()[0].revoked_at);
}

TEST(key_store, expired_keys_are_not_loaded_as_usable) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    ASSERT_TRUE(create_key(*c, {"old", "", {}, 1}, generate_key()));
    ASSERT_TRUE(create_key(*c, {"fresh", "", {}, 1}, generate_key()));
    ASSERT_TRUE(c->exec("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE name = 'old'"));
    auto usable = load_usable_keys(*c);
    ASSERT_TRUE(usable);
    ASSERT_EQ(usable.value().size(), 1u);
    EXPECT_EQ(usable.value()[0].key.name, "fresh");
    ASSERT_TRUE(usable.value()[0].key.expires_at);
    EXPECT_TRUE(usable_at(usable.value()[0].key, std::chrono::system_clock::now()));
}

}  // namespace
}  // namespace llmp::keys

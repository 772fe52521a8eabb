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

TEST(key_store, limits_are_stored_loaded_shown_updated_and_cleared) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    key_spec spec{"limited", "ops", {}, std::nullopt, {}};
    spec.limits.requests_per_minute = 60;
    spec.limits.tokens_per_day = 5'000'000'000;  // past 32 bits
    spec.limits.priority_ceiling = 3;
    auto made = create_key(*c, spec, generate_key());
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(made.value().limits, spec.limits);

    auto usable = load_usable_keys(*c);
    ASSERT_TRUE(usable) << usable.error().message;
    ASSERT_EQ(usable.value().size(), 1u);
    EXPECT_EQ(usable.value()[0].key.limits, spec.limits);
    EXPECT_TRUE(usable.value()[0].key.limits.counted());

    key_change change;
    change.limits.requests_per_minute = std::optional<std::int64_t>{};  // clear
    change.limits.max_streams = std::optional<std::int64_t>{4};
    change.allowed_models = std::vector<std::string>{"mock*"};
    auto updated = update_key(*c, "limited", change);
    ASSERT_TRUE(updated) << updated.error().message;
    EXPECT_FALSE(updated.value().limits.requests_per_minute);
    EXPECT_EQ(updated.value().limits.max_streams, 4);
    EXPECT_EQ(updated.value().limits.tokens_per_day, 5'000'000'000);  // untouched
    EXPECT_EQ(updated.value().owner, "ops");                          // untouched
    EXPECT_EQ(updated.value().allowed_models, std::vector<std::string>{"mock*"});

    auto shown = show_key(*c, "limited");
    ASSERT_TRUE(shown) << shown.error().message;
    EXPECT_EQ(shown.value().limits, updated.value().limits);
    EXPECT_EQ(show_key(*c, "nobody").error().code, "key_not_found");
    EXPECT_EQ(update_key(*c, "nobody", change).error().code, "key_not_found");

    // A limit of 0 or a ceiling past 9 is refused by the table, whatever the caller checked.
    key_change zero;
    zero.limits.tokens_per_minute = std::optional<std::int64_t>{0};
    EXPECT_FALSE(update_key(*c, "limited", zero));
    ASSERT_TRUE(revoke_key(*c, "limited"));
    EXPECT_EQ(update_key(*c, "limited", change).error().code, "key_not_found") << "a revoked key stays revoked";
    EXPECT_TRUE(show_key(*c, "limited").value().revoked_at);
}

TEST(key_store, an_update_changes_the_role_and_sets_or_lifts_the_expiry) {
    LLMP_REQUIRE_DATABASE();
    scratch_database db{db_url};
    auto c = db.connect();
    ASSERT_TRUE(pg::migrate(*c));
    ASSERT_TRUE(create_key(*c, {"ops", "", {}, std::nullopt, key_role::user}, generate_key()));

    key_change change;
    change.role = key_role::viewer;
    change.expires_in_days = std::optional<int>{7};
    auto updated = update_key(*c, "ops", change);
    ASSERT_TRUE(updated) << updated.error().message;
    EXPECT_EQ(updated.value().role, key_role::viewer);
    ASSERT_TRUE(updated.value().expires_at);
    EXPECT_EQ(db.count("SELECT count(*) FROM api_keys WHERE name = 'ops' AND role = 'viewer' AND "
                       "expires_at BETWEEN now() + interval '6 days 23 hours' AND now() + interval '7 days 1 hour'"),
              1);

    key_change lift;
    lift.expires_in_days = std::optional<int>{};
    auto lifted = update_key(*c, "ops", lift);
    ASSERT_TRUE(lifted) << lifted.error().message;
    EXPECT_FALSE(lifted.value().expires_at) << "never expires";
    EXPECT_EQ(lifted.value().role, key_role::viewer) << "untouched";
}

}  // namespace
}  // namespace llmp::keys

#include "keys/key_rules.hpp"

#include <gtest/gtest.h>

namespace llmp::keys {
namespace {

TEST(key_rules, limits_are_checked_against_their_rule_and_named_by_their_field) {
    EXPECT_TRUE(check_limit(0, 1));
    EXPECT_TRUE(check_limit(5, 0)) << "priority ceiling 0 is a value";
    auto low = check_limit(0, 0);
    ASSERT_FALSE(low);
    EXPECT_EQ(low.error().code, "invalid_field");
    EXPECT_NE(low.error().message.find("rpm must be a whole number from 1 to"), std::string::npos);
    auto high = check_limit(5, 10);
    ASSERT_FALSE(high);
    EXPECT_NE(high.error().message.find("priority_ceiling must be a whole number from 0 to 9"), std::string::npos)
        << high.error().message;
    EXPECT_FALSE(check_limit(2, 1'000'001));
}

TEST(key_rules, each_limit_is_read_and_written_through_its_index) {
    key_limits l;
    key_limits_change c;
    for (std::size_t i = 0; i < limit_rules.size(); ++i) {
        set_limit(l, i, static_cast<std::int64_t>(i + 1));
        limit_change_of(c, i) = std::optional<std::int64_t>{static_cast<std::int64_t>(i + 1)};
    }
    EXPECT_EQ(l.requests_per_minute, 1);
    EXPECT_EQ(l.tokens_per_minute, 2);
    EXPECT_EQ(l.max_streams, 3);
    EXPECT_EQ(l.tokens_per_day, 4);
    EXPECT_EQ(l.tokens_per_month, 5);
    EXPECT_EQ(l.priority_ceiling, 6);
    EXPECT_EQ(c.priority_ceiling, std::optional<std::optional<std::int64_t>>{6});
    for (std::size_t i = 0; i < limit_rules.size(); ++i) {
        EXPECT_EQ(limit_of(l, i), static_cast<std::int64_t>(i + 1)) << limit_rules[i].field;
    }
    set_limit(l, 5, std::nullopt);
    EXPECT_FALSE(l.priority_ceiling);
}

TEST(key_rules, a_spec_and_a_change_are_checked_field_by_field) {
    key_spec s;
    s.name = "team-a";
    EXPECT_TRUE(check_spec(s));
    s.name = "a/b";
    EXPECT_FALSE(check_spec(s)) << "a name is a URL path segment";
    s.name = "";
    EXPECT_FALSE(check_spec(s));
    s.name = "ok";
    s.allowed_models = {"mock*", ""};
    EXPECT_FALSE(check_spec(s));
    s.allowed_models = {};
    s.expires_in_days = 0;
    EXPECT_FALSE(check_spec(s));
    s.expires_in_days = 30;
    s.limits.tokens_per_day = -5;
    EXPECT_FALSE(check_spec(s));

    key_change c;
    EXPECT_TRUE(check_change(c));
    c.expires_in_days = std::optional<int>{};
    EXPECT_TRUE(check_change(c)) << "never expires";
    c.expires_in_days = 40000;
    EXPECT_FALSE(check_change(c));
    c.expires_in_days.reset();
    c.limits.requests_per_minute = std::optional<std::int64_t>{};
    EXPECT_TRUE(check_change(c)) << "clearing a limit";
    c.limits.requests_per_minute = std::optional<std::int64_t>{0};
    EXPECT_FALSE(check_change(c));
    EXPECT_EQ(check_role("viewer").value(), key_role::viewer);
    EXPECT_FALSE(check_role("root"));
}

}  // namespace
}  // namespace llmp::keys

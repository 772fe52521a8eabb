#include "common/errc.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace llmp {
namespace {

TEST(errc_table, every_code_has_one_row_in_enum_order) {
    auto rows = errc_table();
    ASSERT_FALSE(rows.empty());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i].code, static_cast<errc>(i)) << rows[i].name;
        EXPECT_EQ(&info(rows[i].code), &rows[i]) << rows[i].name;
    }
}

TEST(errc_table, every_wire_name_round_trips_and_is_unique_snake_case) {
    std::set<std::string_view> seen;
    for (const auto& row : errc_table()) {
        EXPECT_TRUE(seen.insert(row.name).second) << "twice: " << row.name;
        EXPECT_EQ(errc_from_wire(row.name), row.code) << row.name;
        EXPECT_EQ(wire_name(row.code), row.name);
        ASSERT_FALSE(row.name.empty());
        for (char ch : row.name) {
            EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '_') << row.name;
        }
    }
    EXPECT_EQ(errc_from_wire("no_such_code"), std::nullopt);
    EXPECT_EQ(errc_from_wire(""), std::nullopt);
}

TEST(errc_table, statuses_are_errors_and_retryable_codes_say_when) {
    for (const auto& row : errc_table()) {
        EXPECT_GE(row.http_status, 400) << row.name;
        EXPECT_LE(row.http_status, 599) << row.name;
        if (row.retryable) {
            EXPECT_GT(row.retry_after_s, 0) << row.name << " is retryable: it needs a Retry-After";
            EXPECT_LE(row.retry_after_s, 60) << row.name << ": the OpenAI SDKs ignore more than 60 s";
        } else {
            EXPECT_EQ(row.retry_after_s, 0) << row.name << " is not retryable: no Retry-After";
        }
    }
}

TEST(errc_table, the_statuses_the_issue_found_disagreeing) {
    // One status whatever the route, and one Retry-After whatever the process.
    EXPECT_EQ(info(errc::shutting_down).http_status, 503);
    EXPECT_EQ(info(errc::worker_lost).http_status, 503);
    EXPECT_EQ(info(errc::shutting_down).retry_after_s, info(errc::overloaded).retry_after_s);
    EXPECT_EQ(info(errc::db_unavailable).retry_after_s, 1);
}

TEST(reply_policy, a_known_code_answers_with_its_row) {
    auto p = reply_policy("queue_full", false);
    EXPECT_EQ(p.http_status, 503);
    EXPECT_TRUE(p.retryable) << "the code's flag, whatever the message said";
    EXPECT_EQ(p.retry_after_s, 1);
    auto bad = reply_policy("invalid_field", false);
    EXPECT_EQ(bad.http_status, 400);
    EXPECT_FALSE(bad.retryable);
    EXPECT_EQ(bad.retry_after_s, 0);
}

TEST(reply_policy, one_instance_of_a_code_may_be_retryable_but_keeps_the_codes_status) {
    // An upstream_error from an upstream 503 is worth retrying; one from an unparseable reply not.
    auto p = reply_policy("upstream_error", true);
    EXPECT_EQ(p.http_status, 502);
    EXPECT_TRUE(p.retryable);
    EXPECT_EQ(p.retry_after_s, 0);
    EXPECT_FALSE(reply_policy("upstream_error", false).retryable);
}

TEST(reply_policy, an_unknown_code_is_500_or_503_when_its_message_says_retryable) {
    auto plain = reply_policy("code_of_a_newer_worker", false);
    EXPECT_EQ(plain.http_status, 500);
    EXPECT_FALSE(plain.retryable);
    EXPECT_EQ(plain.retry_after_s, 0);
    auto retry = reply_policy("code_of_a_newer_worker", true);
    EXPECT_EQ(retry.http_status, 503);
    EXPECT_TRUE(retry.retryable);
    EXPECT_EQ(retry.retry_after_s, unknown_retry_after_s);
}

TEST(make_error, carries_the_wire_name_and_the_codes_retryable_flag) {
    auto e = make_error(errc::queue_full, "full");
    EXPECT_EQ(e.code, "queue_full");
    EXPECT_EQ(e.message, "full");
    EXPECT_TRUE(e.retryable);
    EXPECT_FALSE(make_error(errc::invalid_json, "x").retryable);
    result<int> r = fail(errc::no_workers, "none");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "no_workers");
    EXPECT_TRUE(r.error().retryable);
}

}  // namespace
}  // namespace llmp

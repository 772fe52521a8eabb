// Unit tests of the usage export's pure parts: CSV quoting (RFC 4180 and the formula guard),
// the from/to range of /api/usage/daily, the CSV of a daily answer, and a key's budget row.

#include "monitor/csv.hpp"
#include "monitor/key_budgets.hpp"
#include "monitor/key_usage_queries.hpp"

#include <gtest/gtest.h>

namespace llmp::monitor {
namespace {

using nlohmann::json;

std::string field(std::string_view s) {
    std::string out;
    csv::append_text(out, s);
    return out;
}

TEST(csv, quotes_only_what_needs_it_and_doubles_quotes) {
    EXPECT_EQ(field("team-a"), "team-a");
    EXPECT_EQ(field(""), "");
    EXPECT_EQ(field("a,b"), "\"a,b\"");
    EXPECT_EQ(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(field("two\nlines"), "\"two\nlines\"");
    EXPECT_EQ(field("cr\rhere"), "\"cr\rhere\"");
    EXPECT_EQ(field("caf\xC3\xA9 ok"), "caf\xC3\xA9 ok") << "UTF-8 passes as it is";
}

TEST(csv, text_a_spreadsheet_would_run_as_a_formula_is_defused) {
    EXPECT_EQ(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    EXPECT_EQ(field("+1"), "\"'+1\"");
    EXPECT_EQ(field("-team"), "\"'-team\"");
    EXPECT_EQ(field("@sum"), "\"'@sum\"");
    EXPECT_EQ(field("\tx"), "\"'\tx\"");
    EXPECT_EQ(field("a=b"), "a=b") << "only a leading sign counts";
    std::string n;
    csv::append_number(n, -12);
    EXPECT_EQ(n, "-12") << "numbers are not text";
}

TEST(key_usage, range_defaults_to_30_days_with_today_and_reads_days_and_ms) {
    const std::int64_t now = 1764946800123;  // 2025-12-05 15:00:00.123 UTC
    auto r = parse_usage_range(std::nullopt, std::nullopt, now);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.value().to_ms, now);
    EXPECT_EQ(r.value().from_ms, 1764892800000 - 29LL * 86400000) << "midnight 29 days before today";
    EXPECT_EQ(daily_usage_filename(r.value()), "llmproxy-usage-2025-11-06-2025-12-05.csv");

    auto days = parse_usage_range("2025-11-01", "2025-12-01", now);
    ASSERT_TRUE(days);
    EXPECT_EQ(days.value().from_ms, 1761955200000);
    EXPECT_EQ(days.value().to_ms, 1764547200000);
    EXPECT_EQ(daily_usage_filename(days.value()), "llmproxy-usage-2025-11-01-2025-11-30.csv") << "to is exclusive";
    auto only_to = parse_usage_range(std::nullopt, "2025-12-01", now);
    ASSERT_TRUE(only_to);
    EXPECT_EQ(only_to.value().from_ms, 1761955200000) << "30 days up to to";

    auto ms = parse_usage_range("1000", "2000", now);
    ASSERT_TRUE(ms);
    EXPECT_EQ(ms.value().from_ms, 1000);
    EXPECT_EQ(ms.value().to_ms, 2000);
}

TEST(key_usage, range_refuses_garbage_reversed_and_too_long) {
    const std::int64_t now = 1764946800123;
    for (const char* bad : {"yesterday", "2025-13-01", "2025-02-30", "2025-1-01", "-5", "12ab", "2025-12-01T00:00"}) {
        auto r = parse_usage_range(std::string{bad}, std::nullopt, now);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, "invalid_field") << bad;
    }
    EXPECT_FALSE(parse_usage_range("2025-12-01", "2025-12-01", now)) << "empty range";
    EXPECT_FALSE(parse_usage_range("2025-12-02", "2025-12-01", now));
    EXPECT_FALSE(parse_usage_range("2024-01-01", "2025-12-01", now)) << "past max_usage_days";
    EXPECT_TRUE(parse_usage_range("2024-11-01", "2025-12-01", now));
}

TEST(key_usage, daily_csv_has_a_header_and_one_quoted_row_per_day_and_key) {
    json daily{{"days", json::array({{{"day", "2025-12-04"},
                                      {"key_id", "0b7c4a52-3f1e-4d7a-9c55-2f8f1a6d9e01"},
                                      {"key_name", "team, \"a\""},
                                      {"received", 3},
                                      {"requests", 3},
                                      {"errors", 1},
                                      {"cancelled", 0},
                                      {"prompt_tokens", 30},
                                      {"completion_tokens", 12},
                                      {"total_tokens", 42}},
                                     {{"day", "2025-12-05"},
                                      {"key_id", nullptr},
                                      {"key_name", nullptr},
                                      {"received", 1},
                                      {"requests", 0},
                                      {"errors", 0},
                                      {"cancelled", 0},
                                      {"prompt_tokens", 0},
                                      {"completion_tokens", 0},
                                      {"total_tokens", 0}}})}};
    EXPECT_EQ(daily_usage_csv(daily),
              "day,key_id,key_name,received,requests,errors,cancelled,prompt_tokens,completion_tokens,total_tokens\r\n"
              "2025-12-04,0b7c4a52-3f1e-4d7a-9c55-2f8f1a6d9e01,\"team, \"\"a\"\"\",3,3,1,0,30,12,42\r\n"
              "2025-12-05,,,1,0,0,0,0,0,0\r\n");
    EXPECT_EQ(
        daily_usage_csv(json{{"days", json::array()}}),
        "day,key_id,key_name,received,requests,errors,cancelled,prompt_tokens,completion_tokens,total_tokens\r\n");
}

TEST(key_budgets, today_and_this_month_begin_at_the_utc_day_and_month) {
    auto b = used_bounds_at(1'796'594'100'000);     // 2026-12-06T21:55:00Z
    EXPECT_EQ(b.day_from_ms, 1'796'515'200'000);    // 2026-12-06T00:00:00Z
    EXPECT_EQ(b.month_from_ms, 1'796'083'200'000);  // 2026-12-01T00:00:00Z
    EXPECT_EQ(b.to_ms, 1'796'594'100'000);
    auto leap = used_bounds_at(1'709'251'199'999);  // 2024-02-29T23:59:59.999Z
    EXPECT_EQ(leap.day_from_ms, 1'709'164'800'000);
    EXPECT_EQ(leap.month_from_ms, 1'706'745'600'000);
    auto first = used_bounds_at(1'709'251'200'000);  // 2024-03-01T00:00:00Z: a new day and month
    EXPECT_EQ(first.day_from_ms, 1'709'251'200'000);
    EXPECT_EQ(first.month_from_ms, 1'709'251'200'000);
}

TEST(key_budgets, a_key_shows_its_limits_and_what_is_left_of_its_budgets) {
    keys::key_listing k;
    k.id = "id-1";
    k.name = "team-a";
    k.role = keys::key_role::user;
    k.limits.requests_per_minute = 60;
    k.limits.tokens_per_day = 1000;
    k.limits.priority_ceiling = 3;
    auto j = budget_json(k, {.today = 250, .month = 5000});
    EXPECT_EQ(j["key_name"], "team-a");
    EXPECT_EQ(j["rpm"], 60);
    EXPECT_TRUE(j["tpm"].is_null());
    EXPECT_TRUE(j["max_streams"].is_null());
    EXPECT_EQ(j["daily_tokens"], 1000);
    EXPECT_TRUE(j["monthly_tokens"].is_null());
    EXPECT_EQ(j["priority_ceiling"], 3);
    EXPECT_EQ(j["used_today"], 250);
    EXPECT_EQ(j["used_month"], 5000);
    EXPECT_EQ(j["remaining_today"], 750);
    EXPECT_TRUE(j["remaining_month"].is_null()) << "no monthly budget";
    EXPECT_FALSE(j.contains("prefix")) << "viewers read this";
    k.limits.tokens_per_month = 4000;
    EXPECT_EQ(budget_json(k, {.today = 250, .month = 5000})["remaining_month"], 0) << "never below 0";
}

}  // namespace
}  // namespace llmp::monitor

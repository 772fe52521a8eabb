#include "audit/copy_format.hpp"

#include <gtest/gtest.h>

namespace llmp::audit {
namespace {

TEST(copy_format, escapes_backslash_tab_newline_and_carriage_return) {
    std::string out;
    copy_format::append_field(out, "a\\b\tc\nd\re");
    EXPECT_EQ(out, "a\\\\b\\tc\\nd\\re");
}

TEST(copy_format, timestamps_are_utc_iso_8601_to_the_millisecond) {
    std::string out;
    copy_format::append_timestamp(out, 0);
    EXPECT_EQ(out, "1970-01-01 00:00:00.000+00");
    out.clear();
    copy_format::append_timestamp(out, 1795791854123);
    EXPECT_EQ(out, "2026-11-27 15:04:14.123+00");
    out.clear();
    copy_format::append_timestamp(out, 951825600007);  // a leap day
    EXPECT_EQ(out, "2000-02-29 12:00:00.007+00");
}

TEST(copy_format, statements_name_the_same_columns_for_the_table_and_its_staging_copy) {
    const auto& requests = copy_format::statements(0);
    EXPECT_EQ(requests.copy.rfind("COPY requests (request_id, received_at,", 0), 0u) << requests.copy;
    EXPECT_EQ(requests.copy_staging.substr(requests.copy_staging.find('(')),
              requests.copy.substr(requests.copy.find('(')));
    EXPECT_NE(requests.insert_from_staging.find("ON CONFLICT DO NOTHING"), std::string::npos);
    EXPECT_NE(copy_format::statements(2).insert_from_staging.find("ON CONFLICT (request_id, attempt, seq)"),
              std::string::npos);
    const auto& responses = copy_format::statements(1);
    EXPECT_EQ(responses.copy_staging.substr(responses.copy_staging.find('(')),
              responses.copy.substr(responses.copy.find('(')));
    EXPECT_NE(
        responses.copy.find("completed_at, reported_by, key_id, key_name, tool_calls, choices, request_received_at)"),
        std::string::npos)
        << responses.copy;
    // The key names the partition column (pg migration 29): a report and a verdict meet in the
    // request's day.
    EXPECT_NE(responses.insert_from_staging.find("ON CONFLICT (request_received_at, request_id) DO UPDATE"),
              std::string::npos);
    // The worker's report brings the tool calls when it merges into a verdict.
    EXPECT_NE(responses.insert_from_staging.find("tool_calls = EXCLUDED.tool_calls"), std::string::npos);
    EXPECT_NE(requests.copy.find("deadline_at, key_id, key_name, model_alias)"), std::string::npos) << requests.copy;
    // A verdict and the worker's report merging keep the key whichever came first.
    EXPECT_EQ(responses.insert_from_staging.find("key_id = EXCLUDED.key_id"), std::string::npos);
    EXPECT_NE(responses.insert_from_staging.find("key_id = coalesce(r.key_id, EXCLUDED.key_id)"), std::string::npos);
}

TEST(copy_format, request_row_has_one_field_per_column) {
    request_row r;
    r.request_id = "r-1";
    r.received_at_ms = 42;
    r.kind = "generate";
    r.prompt = "say \"hi\"\n";
    std::string out;
    copy_format::append_row(out, r);
    ASSERT_EQ(out.back(), '\n');
    EXPECT_EQ(std::count(out.begin(), out.end(), '\t'), 18) << "19 columns";
    EXPECT_NE(out.find("\t\\N\t\\N\t\\N\n"), std::string::npos)
        << "no key, no alias: key_id, key_name, model_alias NULL";
    EXPECT_NE(out.find("\\N"), std::string::npos) << "messages is NULL for generate";
    EXPECT_NE(out.find("say \"hi\"\\n"), std::string::npos);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
}

TEST(copy_format, the_api_key_is_escaped_like_any_text) {
    request_row q;
    q.key_id = "k-1";
    q.key_name = "tab\there";
    std::string out;
    copy_format::append_row(out, q);
    EXPECT_NE(out.find("\tk-1\ttab\\there\t\\N\n"), std::string::npos) << out;
    q.model_alias = "gpt-4o-mini";
    out.clear();
    copy_format::append_row(out, q);
    EXPECT_NE(out.find("\tk-1\ttab\\there\tgpt-4o-mini\n"), std::string::npos) << out;
    response_row r;
    r.status = "error";
    r.key_id = "k-1";
    r.key_name = "back\\slash";
    out.clear();
    copy_format::append_row(out, r);
    EXPECT_NE(out.find("\tworker\tk-1\tback\\\\slash\t\\N\t\\N\t-infinity\n"), std::string::npos) << out;
}

TEST(copy_format, response_and_chunk_rows) {
    response_row ok_row;
    ok_row.request_id = "r";
    ok_row.status = "ok";
    ok_row.ttft_ms = 1.5;
    std::string out;
    copy_format::append_row(out, ok_row);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\t'), 23) << "24 columns";
    EXPECT_NE(out.find("\t1.5\t"), std::string::npos);
    EXPECT_NE(out.find("\tworker\t\\N\t\\N\t\\N\t\\N\t-infinity\n"), std::string::npos)
        << "reported_by, then no key, no tool calls, no further choices, the request's time unknown";
    ok_row.request_received_at_ms = 42;
    out.clear();
    copy_format::append_row(out, ok_row);
    EXPECT_NE(out.find("\t1970-01-01 00:00:00.042+00\n"), std::string::npos) << out;
    ok_row.request_received_at_ms = 0;
    ok_row.tool_calls_json = R"([{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}])";
    out.clear();
    copy_format::append_row(out, ok_row);
    EXPECT_NE(out.find("\t\\N\t[{\"id\":\"call_1\""), std::string::npos) << out;
    ok_row.choices_json = R"([{"index":1,"done_reason":"stop","text":"b"}])";
    out.clear();
    copy_format::append_row(out, ok_row);
    EXPECT_NE(out.find("}]\t[{\"index\":1,"), std::string::npos) << out;
    chunk_row c;
    c.request_id = "r";
    c.text = "\t";
    std::string chunk;
    copy_format::append_row(chunk, c);
    EXPECT_EQ(std::count(chunk.begin(), chunk.end(), '\t'), 5);
    EXPECT_NE(chunk.find("\\t\n"), std::string::npos);
}

}  // namespace
}  // namespace llmp::audit

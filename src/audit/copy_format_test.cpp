#include "audit/copy_format.hpp"

#include <gtest/gtest.h>

namespace llmp::audit {
namespace {

TEST(copy_format, escapes_backslash_tab_newline_and_carriage_return) {
    std::string out;
    copy_format::append_field(out, "a\\b\tc\nd\re");
    EXPECT_EQ(out, "a\\\\b\\tc\\nd\\re");
}

TEST(copy_format, request_row_has_one_field_per_staging_column) {
    request_row r;
    r.request_id = "r-1";
    r.received_at_ms = 42;
    r.kind = "generate";
    r.prompt = "say \"hi\"\n";
    std::string out;
    copy_format::append_row(out, r);
    ASSERT_EQ(out.back(), '\n');
    EXPECT_EQ(std::count(out.begin(), out.end(), '\t'), 15) << "16 columns";
    EXPECT_NE(out.find("\\N"), std::string::npos) << "messages is NULL for generate";
    EXPECT_NE(out.find("say \"hi\"\\n"), std::string::npos);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
}

TEST(copy_format, response_and_chunk_rows) {
    response_row ok_row;
    ok_row.request_id = "r";
    ok_row.status = "ok";
    ok_row.ttft_ms = 1.5;
    std::string out;
    copy_format::append_row(out, ok_row);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\t'), 17) << "18 columns";
    EXPECT_NE(out.find("\t1.5\t"), std::string::npos);
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

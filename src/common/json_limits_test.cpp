#include "common/json_limits.hpp"

#include <gtest/gtest.h>

#include <string>

namespace llmp {
namespace {

std::string nested(std::size_t levels, char open = '[', char close = ']') {
    return std::string(levels, open) + std::string(levels, close);
}

std::string nested_objects(std::size_t levels) {
    std::string s;
    for (std::size_t i = 0; i < levels; ++i) {
        s += "{\"a\":";
    }
    s += "1";
    s += std::string(levels, '}');
    return s;
}

TEST(json_limits, builds_the_same_value_as_nlohmann) {
    const std::string text =
        R"({"s":"h\u00e9\"x","i":-3,"u":18446744073709551615,"f":2.5,"b":true,"n":null,"a":[1,[2,{"k":[]}],{}],
            "o":{"x":{"y":"z"}},"dup":1,"dup":2})";
    auto r = parse_json_bounded(text, max_request_json_depth);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), nlohmann::json::parse(text));
    EXPECT_EQ(r.value()["dup"], 2);  // the last of repeated keys, as nlohmann
    EXPECT_TRUE(r.value()["u"].is_number_unsigned());
    for (const char* scalar : {"7", "\"s\"", "null", "[]", "{}"}) {
        auto s = parse_json_bounded(scalar, 1);
        ASSERT_TRUE(s) << scalar;
        EXPECT_EQ(s.value(), nlohmann::json::parse(scalar));
    }
}

TEST(json_limits, the_limit_counts_containers_of_both_kinds) {
    EXPECT_TRUE(parse_json_bounded(nested(64), 64));
    EXPECT_FALSE(parse_json_bounded(nested(65), 64));
    EXPECT_TRUE(parse_json_bounded(nested_objects(64), 64));
    EXPECT_FALSE(parse_json_bounded(nested_objects(65), 64));
    EXPECT_TRUE(parse_json_bounded("[" + nested_objects(63) + "]", 64));
    EXPECT_FALSE(parse_json_bounded("[" + nested_objects(64) + "]", 64));
    // Siblings do not add up.
    EXPECT_TRUE(parse_json_bounded("[" + nested(63) + "," + nested(63) + "]", 64));
}

TEST(json_limits, a_200000_level_body_is_refused_without_recursing) {
    for (const auto& deep : {nested(200000), std::string(200000, '['), nested_objects(200000)}) {
        auto r = parse_json_bounded(deep, max_request_json_depth);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, "invalid_json");
        EXPECT_EQ(r.error().message, "nested deeper than 64 levels");
    }
}

TEST(json_limits, syntax_errors_say_where) {
    for (const char* bad : {"", "{", "[1,2", "{\"a\" 1}", "1e400", "{} x", "\"\xff\"", "[1,]"}) {
        auto r = parse_json_bounded(bad, 64);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, "invalid_json");
        EXPECT_EQ(r.error().message.rfind("not valid JSON (at byte ", 0), 0u) << r.error().message;
    }
    EXPECT_EQ(parse_json_bounded("[1,2", 64).error().message, "not valid JSON (at byte 5)");
}

}  // namespace
}  // namespace llmp

#include "http/ndjson_splitter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace llmp::http_client {
namespace {

const std::string input =
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\" there\\n\"},\"done\":false}\r\n"
    "\n"
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n"
    "tail-without-newline";

const std::vector<std::string> expected_lines{
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}",
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\" there\\n\"},\"done\":false}",
    "",
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}",
};

std::vector<std::string> split(const std::vector<std::string_view>& slices, ndjson_splitter& s) {
    std::vector<std::string> lines;
    for (auto slice : slices) {
        auto r = s.feed(slice, [&](std::string_view line) { lines.emplace_back(line); });
        EXPECT_TRUE(r) << r.error().message;
    }
    return lines;
}

TEST(ndjson_splitter, whole_input_at_once) {
    ndjson_splitter s;
    EXPECT_EQ(split({input}, s), expected_lines);
    EXPECT_TRUE(s.has_partial());
    EXPECT_EQ(s.partial(), "tail-without-newline");
}

TEST(ndjson_splitter, split_at_every_byte_boundary) {
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        ndjson_splitter s;
        std::string_view all{input};
        auto lines = split({all.substr(0, cut), all.substr(cut)}, s);
        EXPECT_EQ(lines, expected_lines) << "cut at " << cut;
        EXPECT_EQ(s.partial(), "tail-without-newline") << "cut at " << cut;
    }
}

TEST(ndjson_splitter, split_at_every_pair_of_boundaries) {
    for (std::size_t a = 0; a <= input.size(); a += 7) {
        for (std::size_t b = a; b <= input.size(); ++b) {
            ndjson_splitter s;
            std::string_view all{input};
            auto lines = split({all.substr(0, a), all.substr(a, b - a), all.substr(b)}, s);
            ASSERT_EQ(lines, expected_lines) << "cuts at " << a << ", " << b;
        }
    }
}

TEST(ndjson_splitter, single_bytes) {
    ndjson_splitter s;
    std::vector<std::string_view> slices;
    for (std::size_t i = 0; i < input.size(); ++i) {
        slices.push_back(std::string_view{input}.substr(i, 1));
    }
    EXPECT_EQ(split(slices, s), expected_lines);
    EXPECT_EQ(s.partial(), "tail-without-newline");
}

TEST(ndjson_splitter, lone_cr_split_from_its_lf) {
    ndjson_splitter s;
    EXPECT_EQ(split({"abc\r", "\n", "def\n"}, s), (std::vector<std::string>{"abc", "def"}));
    EXPECT_FALSE(s.has_partial());
}

TEST(ndjson_splitter, line_limit_in_one_slice) {
    ndjson_splitter s{8};
    std::vector<std::string> lines;
    auto r = s.feed("12345678\n123456789\n", [&](std::string_view l) { lines.emplace_back(l); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "line_too_long");
    EXPECT_EQ(lines, std::vector<std::string>{"12345678"});
}

TEST(ndjson_splitter, line_limit_across_slices_without_newline) {
    ndjson_splitter s{8};
    auto noop = [](std::string_view) {};
    EXPECT_TRUE(s.feed("12345", noop));
    auto r = s.feed("6789", noop);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "line_too_long");
}

TEST(ndjson_splitter, line_limit_when_tail_completes) {
    ndjson_splitter s{8};
    auto noop = [](std::string_view) {};
    EXPECT_TRUE(s.feed("12345", noop));
    EXPECT_FALSE(s.feed("6789\n", noop));
}

TEST(ndjson_splitter, reset_drops_the_tail) {
    ndjson_splitter s;
    auto noop = [](std::string_view) {};
    EXPECT_TRUE(s.feed("partial", noop));
    s.reset();
    EXPECT_FALSE(s.has_partial());
}

}  // namespace
}  // namespace llmp::http_client

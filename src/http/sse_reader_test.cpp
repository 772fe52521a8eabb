#include "http/sse_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace llmp::http_client {
namespace {

struct seen {
    std::string event;
    std::string data;
    bool operator==(const seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const seen& s) {
    return os << "{" << s.event << "|" << s.data << "}";
}

// What vLLM / OpenAI send, plus every framing variation the rules allow: CRLF and lone CR line
// ends, comments, a field without a space, multi-line data, an event name, ignored fields, a
// data-less block (not dispatched) and an event cut by EOF (not dispatched).
const std::string input =
    "\xEF\xBB\xBF"
    ": keep-alive\n\n"
    "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n"
    "data:{\"x\":1}\r\r"
    "id: 7\nretry: 100\n\n"
    "event: ping\ndata: a\ndata:  b\ndata\n\n"
    "data: [DONE]\n\n"
    "data: cut";

const std::vector<seen> expected{
    {"", "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}"},
    {"", "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"},
    {"", "{\"x\":1}"},
    {"ping", "a\n b\n"},
    {"", "[DONE]"},
};

std::vector<seen> read(const std::vector<std::string_view>& slices, sse_reader& r) {
    std::vector<seen> out;
    for (auto slice : slices) {
        auto fed = r.feed(slice, [&](const sse_event& e) {
            out.push_back({std::string{e.event}, std::string{e.data}});
        });
        EXPECT_TRUE(fed) << fed.error().message;
    }
    return out;
}

TEST(sse_reader, whole_input_at_once) {
    sse_reader r;
    EXPECT_EQ(read({input}, r), expected);
    EXPECT_TRUE(r.has_partial());
}

TEST(sse_reader, split_at_every_byte_boundary) {
    std::string_view all{input};
    for (std::size_t cut = 0; cut <= all.size(); ++cut) {
        sse_reader r;
        EXPECT_EQ(read({all.substr(0, cut), all.substr(cut)}, r), expected) << "cut at " << cut;
        EXPECT_TRUE(r.has_partial());
    }
}

TEST(sse_reader, split_at_every_pair_of_boundaries) {
    std::string_view all{input};
    for (std::size_t a = 0; a <= all.size(); ++a) {
        for (std::size_t b = a; b <= all.size(); ++b) {
            sse_reader r;
            ASSERT_EQ(read({all.substr(0, a), all.substr(a, b - a), all.substr(b)}, r), expected)
                << "cuts at " << a << ", " << b;
        }
    }
}

TEST(sse_reader, single_bytes) {
    std::vector<std::string_view> slices;
    for (std::size_t i = 0; i < input.size(); ++i) {
        slices.push_back(std::string_view{input}.substr(i, 1));
    }
    sse_reader r;
    EXPECT_EQ(read(slices, r), expected);
}

TEST(sse_reader, complete_stream_leaves_nothing_pending) {
    sse_reader r;
    EXPECT_EQ(read({"data: x\n\ndata: [DONE]\n\n"}, r), (std::vector<seen>{{"", "x"}, {"", "[DONE]"}}));
    EXPECT_FALSE(r.has_partial());
}

TEST(sse_reader, without_bom_first_bytes_are_kept) {
    sse_reader r;
    EXPECT_EQ(read({"d", "ata: \xEF\n\n"}, r), (std::vector<seen>{{"", "\xEF"}}));
}

TEST(sse_reader, event_limit) {
    sse_reader r{16};
    auto noop = [](const sse_event&) {};
    EXPECT_TRUE(r.feed("data: 0123456789\n", noop));
    auto fed = r.feed("data: 0123456789\n", noop);
    ASSERT_FALSE(fed);
    EXPECT_EQ(fed.error().code, "line_too_long");
}

TEST(sse_reader, line_limit_without_newline) {
    sse_reader r{16};
    auto noop = [](const sse_event&) {};
    EXPECT_TRUE(r.feed("data: 0123", noop));
    EXPECT_FALSE(r.feed("456789abcdef", noop));
}

}  // namespace
}  // namespace llmp::http_client

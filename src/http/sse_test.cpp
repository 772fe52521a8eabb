#include "http/sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace llmp::sse {
namespace {

struct parsed_event {
    std::string event = "message";
    std::string id;
    std::string data;
};

/// A WHATWG-conformant SSE parser (protocols.md §3), to check what a client would see.
std::vector<parsed_event> parse(std::string_view stream) {
    std::vector<parsed_event> out;
    parsed_event cur;
    std::string data;
    bool has_data = false;
    std::size_t pos = 0;
    while (pos < stream.size()) {
        auto end = stream.find_first_of("\r\n", pos);
        if (end == std::string_view::npos) {
            break;  // an unterminated line at EOF is discarded
        }
        std::string_view line = stream.substr(pos, end - pos);
        pos = end + ((stream[end] == '\r' && end + 1 < stream.size() && stream[end + 1] == '\n') ? 2 : 1);
        if (line.empty()) {
            if (has_data) {
                cur.data = data.substr(0, data.size() - 1);
                out.push_back(cur);
            }
            cur = parsed_event{.event = "message", .id = cur.id, .data = {}};
            data.clear();
            has_data = false;
            continue;
        }
        if (line[0] == ':') {
            continue;
        }
        auto colon = line.find(':');
        std::string_view field = line.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') {
            value.remove_prefix(1);
        }
        if (field == "data") {
            data.append(value).push_back('\n');
            has_data = true;
        } else if (field == "event") {
            cur.event = std::string{value};
        } else if (field == "id") {
            cur.id = std::string{value};
        }
    }
    return out;
}

TEST(sse, one_event_with_name_and_id) {
    std::string out;
    append_event(out, "token", R"({"content":"Hi"})", "1");
    EXPECT_EQ(out, "event: token\nid: 1\ndata: {\"content\":\"Hi\"}\n\n");
}

TEST(sse, multiline_data_round_trips_through_a_parser) {
    for (std::string data : {std::string{"a\nb"}, std::string{"a\r\nb\rc"}, std::string{"trailing\n"}, std::string{""},
                             std::string{"\n\n"}, std::string{": not a comment"}}) {
        std::string out;
        append_event(out, "x", data);
        auto evs = parse(out);
        ASSERT_EQ(evs.size(), 1u) << out;
        std::string normalized;
        for (std::size_t i = 0; i < data.size(); ++i) {
            if (data[i] == '\r') {
                normalized.push_back('\n');
                if (i + 1 < data.size() && data[i + 1] == '\n') {
                    ++i;
                }
            } else {
                normalized.push_back(data[i]);
            }
        }
        EXPECT_EQ(evs[0].data, normalized);
        EXPECT_EQ(evs[0].event, "x");
    }
}

TEST(sse, batched_events_and_comments_parse_separately) {
    std::string out;
    append_event(out, "start", "{}");
    append_comment(out, "keepalive");
    append_event(out, "token", "1", "1");
    append_event(out, "token", "2", "2");
    append_event(out, "done", "{\"ok\":true}");
    auto evs = parse(out);
    ASSERT_EQ(evs.size(), 4u);
    EXPECT_EQ(evs[0].event, "start");
    EXPECT_EQ(evs[1].data, "1");
    EXPECT_EQ(evs[2].id, "2");
    EXPECT_EQ(evs[3].event, "done");
}

}  // namespace
}  // namespace llmp::sse

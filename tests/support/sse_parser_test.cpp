#include "support/sse_parser.hpp"

#include <gtest/gtest.h>

namespace llmp::testing {
namespace {

TEST(sse_parser, same_events_whatever_the_split) {
    const std::string stream =
        "event: start\ndata: {\"a\":1}\n\n: comment\n\nevent: token\r\nid: 1\r\ndata: x\r\n\r\n"
        "event: token\rid: 2\rdata: y\rdata: z\r\rdata: no end";
    std::vector<sse_event> whole;
    sse_parser{}.feed(stream, whole);
    ASSERT_EQ(whole.size(), 3u);
    EXPECT_EQ(whole[0].event, "start");
    EXPECT_EQ(whole[1].id, "1");
    EXPECT_EQ(whole[2].data, "y\nz");
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        sse_parser p;
        std::vector<sse_event> got;
        p.feed(std::string_view{stream}.substr(0, cut), got);
        p.feed(std::string_view{stream}.substr(cut), got);
        ASSERT_EQ(got.size(), whole.size()) << "cut at " << cut;
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].event, whole[i].event);
            EXPECT_EQ(got[i].id, whole[i].id);
            EXPECT_EQ(got[i].data, whole[i].data);
        }
    }
}

}  // namespace
}  // namespace llmp::testing

#include "common/chunk_frames.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace llmp {
namespace {

std::string body_of(const std::vector<chunk_frame_view>& frames) {
    std::string out;
    begin_chunk_frames(out);
    for (const auto& f : frames) {
        append_chunk_frame(out, f.request_id, f.seq, f.attempt, f.text, f.choice);
    }
    return out;
}

TEST(chunk_frames, round_trip_keeps_every_frame_in_order) {
    const std::string big(70'000, 'x');  // a length that takes a three-byte varint
    const std::string binary{"a\0b\xff\n", 5};
    std::vector<chunk_frame_view> in{{"req-a", 1, 1, "Hel"},
                                     {"req-b", 300, 2, binary},
                                     {"req-a", 2, 1, ""},
                                     {"req-c", std::numeric_limits<std::int64_t>::max(), 7, big}};
    auto body = body_of(in);
    std::vector<chunk_frame_view> out;
    auto r = decode_chunk_frames(body, out);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        EXPECT_EQ(out[i].request_id, in[i].request_id) << i;
        EXPECT_EQ(out[i].seq, in[i].seq) << i;
        EXPECT_EQ(out[i].attempt, in[i].attempt) << i;
        EXPECT_EQ(out[i].text, in[i].text) << i;
    }
}

TEST(chunk_frames, a_frame_costs_a_few_bytes_over_its_id_and_text) {
    auto body = body_of({{"req_0123456789abcdef0123", 12, 1, "tok"}});
    EXPECT_EQ(body.size(), 3u + 1 + 24 + 1 + 1 + 1 + 3);
}

// n > 1: a frame of another choice than 0 carries its index ahead of the id; choice 0's frames
// are byte for byte what they were (old API servers read them, new ones read old workers').
TEST(chunk_frames, a_choice_index_rides_only_on_frames_of_other_choices) {
    std::vector<chunk_frame_view> in{
        {"req-a", 1, 1, "A", 0}, {"req-a", 2, 1, "B", 1}, {"req-a", 3, 1, "C", max_frame_choice}};
    auto body = body_of(in);
    EXPECT_EQ(body.size(), 3u + 3 * (1 + 5 + 1 + 1 + 1 + 1) + 2 * 2);
    EXPECT_EQ(body_of({in[0]}), body_of({{"req-a", 1, 1, "A"}}));
    std::vector<chunk_frame_view> out;
    ASSERT_TRUE(decode_chunk_frames(body, out));
    ASSERT_EQ(out.size(), 3u);
    for (std::size_t i = 0; i < in.size(); ++i) {
        EXPECT_EQ(out[i].choice, in[i].choice) << i;
        EXPECT_EQ(out[i].text, in[i].text) << i;
        EXPECT_EQ(out[i].seq, in[i].seq) << i;
    }
    auto refused = [&](std::string_view b) { return !decode_chunk_frames(b, out).has_value(); };
    EXPECT_TRUE(refused(std::string_view{"LC\x01\x00\x00\x01r\x01\x01\x00", 10}));      // choice 0 said aloud
    EXPECT_TRUE(refused(std::string_view{"LC\x01\x00\x80\x01\x01r\x01\x01\x00", 11}));  // choice 128
    EXPECT_TRUE(refused(std::string_view{"LC\x01\x00\x01", 5}));                        // a choice and no frame
}

TEST(chunk_frames, every_truncation_of_a_valid_body_is_refused) {
    auto body = body_of({{"req-a", 130, 1, "Hello"}, {"req-b", 1, 2, "world"}});
    std::vector<chunk_frame_view> out;
    for (std::size_t n = 0; n < body.size(); ++n) {
        auto cut = std::string_view{body}.substr(0, n);
        auto r = decode_chunk_frames(cut, out);
        // The one prefix that is itself a whole body: the first frame alone.
        const bool first_frame_only = n == 3 + 1 + 5 + 2 + 1 + 1 + 5;
        EXPECT_EQ(r.has_value(), first_frame_only) << "prefix of " << n << " bytes";
        if (!r) {
            EXPECT_EQ(r.error().code, "malformed_message");
            EXPECT_TRUE(out.empty());
        }
    }
}

TEST(chunk_frames, garbage_is_refused) {
    std::vector<chunk_frame_view> out;
    auto refused = [&](std::string_view b) { return !decode_chunk_frames(b, out).has_value(); };
    EXPECT_TRUE(refused(""));
    EXPECT_TRUE(refused("tok"));                                               // a legacy raw chunk
    EXPECT_TRUE(refused(std::string_view{"LC\x02", 3}));                       // another version
    EXPECT_TRUE(refused(std::string_view{"LC\x01", 3}));                       // no frame
    EXPECT_TRUE(refused(std::string_view{"LC\x01\x00\x01\x01\x00", 7}));       // empty request id
    EXPECT_TRUE(refused(std::string_view{"LC\x01\x01r\x00\x01\x00", 8}));      // seq 0
    EXPECT_TRUE(refused(std::string_view{"LC\x01\x01r\x01\x00\x00", 8}));      // attempt 0
    EXPECT_TRUE(refused(std::string_view{"LC\x01\x01r\x01\x01\x05tok", 10}));  // text shorter than said
    // An id longer than the limit.
    std::string long_id{"LC\x01", 3};
    long_id += "\x81\x02";  // 257
    long_id += std::string(257, 'r') + "\x01\x01\x00";
    EXPECT_TRUE(refused(long_id));
    // Varints: 11 bytes, and 2^63 (past int64) as a seq.
    std::string eleven{"LC\x01\x01r", 5};
    eleven += std::string(10, '\xff') + "\x01";
    EXPECT_TRUE(refused(eleven));
    std::string too_big{"LC\x01\x01r", 5};
    too_big += std::string(9, '\x80') + "\x01" + "\x01\x00";
    EXPECT_TRUE(refused(too_big));
    // A huge length must not be trusted (no allocation, no read past the end).
    std::string huge{"LC\x01\x01r\x01\x01", 7};
    huge += std::string(9, '\xff') + "\x01";
    EXPECT_TRUE(refused(huge));
}

}  // namespace
}  // namespace llmp

#include "common/base64.hpp"

#include <gtest/gtest.h>

namespace llmp {
namespace {

TEST(base64, encodes_rfc4648_vectors) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode(std::string_view{"\xff\xfe\x00", 3}), "//4A");
}

TEST(base64, decodes_what_it_encodes_with_or_without_padding) {
    for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        EXPECT_EQ(base64_decode(base64_encode(s)), s);
    }
    EXPECT_EQ(base64_decode("Zg"), "f");
}

TEST(base64, refuses_what_is_not_base64) {
    EXPECT_FALSE(base64_decode("data:image/png;base64,AAAA"));
    EXPECT_FALSE(base64_decode("Zm9v YmFy"));
    EXPECT_FALSE(base64_decode("Z"));
    EXPECT_FALSE(base64_decode("Zg=a"));
}

}  // namespace
}  // namespace llmp

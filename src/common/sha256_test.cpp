#include "common/sha256.hpp"

#include <gtest/gtest.h>

#include <string>

namespace llmp {
namespace {

// FIPS 180-2's examples, and bytes that are not text (an image digest's input).
TEST(sha256, known_vectors_in_lowercase_hex) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const std::string binary{"\x00\xff\x00", 3};
    EXPECT_EQ(sha256_hex(binary).size(), 64u);
    EXPECT_NE(sha256_hex(binary), sha256_hex(std::string{"\x00\xff", 2}));
}

}  // namespace
}  // namespace llmp

#include "keys/api_key.hpp"

#include <gtest/gtest.h>

#include <set>

namespace llmp::keys {
namespace {

TEST(api_key, a_new_key_is_llmp_and_43_base64url_characters_with_its_hash_and_prefix) {
    auto k = generate_key();
    ASSERT_EQ(k.plaintext.size(), 5u + 43u) << k.plaintext;
    EXPECT_TRUE(k.plaintext.starts_with("llmp_"));
    for (char c : k.plaintext.substr(5)) {
        EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << k.plaintext;
    }
    EXPECT_EQ(k.hash, hash_key(k.plaintext));
    EXPECT_EQ(k.prefix, k.plaintext.substr(0, 12));
    EXPECT_EQ(k.hash.find(k.plaintext.substr(5)), std::string::npos);
}

TEST(api_key, keys_differ) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        EXPECT_TRUE(seen.insert(generate_key().plaintext).second);
    }
}

TEST(api_key, the_hash_is_lowercase_hex_sha256) {
    EXPECT_EQ(hash_key(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(api_key, bearer_tokens_are_read_from_the_authorization_header) {
    EXPECT_EQ(bearer_token("Bearer llmp_abc"), "llmp_abc");
    EXPECT_EQ(bearer_token("bearer   llmp_abc  "), "llmp_abc");
    EXPECT_EQ(bearer_token(" BEARER\tllmp_abc"), "llmp_abc");
    EXPECT_EQ(bearer_token("Bearer"), std::nullopt);
    EXPECT_EQ(bearer_token("Bearer   "), std::nullopt);
    EXPECT_EQ(bearer_token("Bearerllmp_abc"), std::nullopt);
    EXPECT_EQ(bearer_token("Basic dXNlcjpwYXNz"), std::nullopt);
    EXPECT_EQ(bearer_token(""), std::nullopt);
}

TEST(api_key, models_match_glob_patterns_and_an_empty_list_allows_all) {
    EXPECT_TRUE(model_allowed({}, "anything"));
    std::vector<std::string> p{"llama3*", "mock"};
    EXPECT_TRUE(model_allowed(p, "llama3"));
    EXPECT_TRUE(model_allowed(p, "llama3.2:1b"));
    EXPECT_TRUE(model_allowed(p, "mock"));
    EXPECT_FALSE(model_allowed(p, "mock-2"));
    EXPECT_FALSE(model_allowed(p, "gpt-4o"));
    EXPECT_FALSE(model_allowed(p, ""));
    EXPECT_TRUE(model_allowed({"gpt-4o-?ini"}, "gpt-4o-mini"));
    EXPECT_TRUE(model_allowed({"mock:latest"}, "mock")) << "the name:tag form counts";
    EXPECT_TRUE(model_allowed({"mock"}, "mock"));
    EXPECT_FALSE(model_allowed({"mock:latest"}, "mock:v2"));
}

TEST(api_key, a_key_is_usable_until_it_expires) {
    auto now = std::chrono::system_clock::now();
    usable_key k;
    EXPECT_TRUE(usable_at(k, now));
    k.expires_at = now + std::chrono::seconds{1};
    EXPECT_TRUE(usable_at(k, now));
    EXPECT_FALSE(usable_at(k, now + std::chrono::seconds{1}));
}

}  // namespace
}  // namespace llmp::keys

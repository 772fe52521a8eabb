#include "api/auth.hpp"

#include "common/errc.hpp"
#include "keys/api_key.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

keys::stored_key stored(const keys::new_key& k, std::string name, std::vector<std::string> models = {}) {
    keys::stored_key s;
    s.hash = k.hash;
    s.key.id = "id-" + name;
    s.key.name = std::move(name);
    s.key.allowed_models = std::move(models);
    return s;
}

TEST(auth, without_a_ring_every_request_passes) {
    EXPECT_EQ(auth_refusal(nullptr, std::nullopt, "any"), std::nullopt);
}

TEST(auth, a_missing_malformed_or_unknown_key_is_401_invalid_api_key) {
    key_ring ring;
    auto k = keys::generate_key();
    ring.replace({stored(k, "a")});
    for (std::optional<std::string_view> h :
         {std::optional<std::string_view>{}, std::optional<std::string_view>{"Basic abc"},
          std::optional<std::string_view>{"Bearer "}, std::optional<std::string_view>{"Bearer llmp_wrong"}}) {
        auto r = auth_refusal(&ring, h, std::nullopt);
        ASSERT_TRUE(r) << h.value_or("<none>");
        EXPECT_EQ(r->code, "invalid_api_key");
        EXPECT_EQ(info(errc::invalid_api_key).http_status, 401);
        EXPECT_EQ(r->message.find(k.plaintext), std::string::npos);
    }
    std::string good = "Bearer " + k.plaintext;
    EXPECT_EQ(auth_refusal(&ring, good, std::nullopt), std::nullopt);
    EXPECT_EQ(auth_refusal(&ring, good, "anything"), std::nullopt) << "no patterns: every model";
}

TEST(auth, x_api_key_carries_the_key_too_and_a_bearer_token_wins) {
    key_ring ring;
    auto k = keys::generate_key();
    ring.replace({stored(k, "a")});
    EXPECT_EQ(auth_refusal(&ring, std::nullopt, "any", k.plaintext), std::nullopt);
    EXPECT_EQ(auth_refusal(&ring, std::nullopt, "any", " " + k.plaintext + " "), std::nullopt);
    EXPECT_EQ(auth_refusal(&ring, "Basic abc", "any", k.plaintext), std::nullopt) << "no bearer token: x-api-key";
    auto wrong = auth_refusal(&ring, std::nullopt, "any", "llmp_wrong");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->code, "invalid_api_key");
    EXPECT_TRUE(auth_refusal(&ring, std::nullopt, "any", " "));
    EXPECT_TRUE(auth_refusal(&ring, "Bearer llmp_wrong", "any", k.plaintext)) << "the bearer token is the key";
    EXPECT_NE(auth_refusal(&ring, std::nullopt, std::nullopt)->message.find("x-api-key"), std::string::npos);
}

TEST(auth, a_model_outside_the_keys_patterns_is_403_model_not_allowed) {
    key_ring ring;
    auto k = keys::generate_key();
    ring.replace({stored(k, "narrow", {"llama3*", "mock"})});
    std::string h = "Bearer " + k.plaintext;
    EXPECT_EQ(auth_refusal(&ring, h, "mock"), std::nullopt);
    EXPECT_EQ(auth_refusal(&ring, h, "llama3.2"), std::nullopt);
    auto r = auth_refusal(&ring, h, "gpt-4o");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, "model_not_allowed");
    EXPECT_EQ(info(errc::model_not_allowed).http_status, 403);
}

TEST(auth, a_replaced_set_drops_revoked_keys_and_an_expired_key_stops_at_once) {
    key_ring ring;
    auto a = keys::generate_key();
    auto b = keys::generate_key();
    ring.replace({stored(a, "a"), stored(b, "b")});
    EXPECT_EQ(ring.size(), 2u);
    ring.replace({stored(b, "b")});
    EXPECT_TRUE(auth_refusal(&ring, "Bearer " + a.plaintext, std::nullopt));
    EXPECT_FALSE(auth_refusal(&ring, "Bearer " + b.plaintext, std::nullopt));

    auto expired = stored(a, "a");
    expired.key.expires_at = std::chrono::system_clock::now() - std::chrono::seconds{1};
    ring.replace({expired});
    EXPECT_TRUE(auth_refusal(&ring, "Bearer " + a.plaintext, std::nullopt));
}

TEST(auth, a_viewer_key_reads_the_monitor_only_and_an_admin_key_calls_the_api) {
    key_ring ring;
    auto v = keys::generate_key();
    auto a = keys::generate_key();
    auto viewer = stored(v, "viewer");
    viewer.key.role = keys::key_role::viewer;
    auto admin = stored(a, "admin");
    admin.key.role = keys::key_role::admin;
    ring.replace({viewer, admin});
    auto r = auth_refusal(&ring, "Bearer " + v.plaintext, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, "forbidden");
    EXPECT_EQ(info(errc::forbidden).http_status, 403);
    EXPECT_FALSE(auth_refusal(&ring, "Bearer " + a.plaintext, "any"));
}

}  // namespace
}  // namespace llmp::api

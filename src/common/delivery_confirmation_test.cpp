#include "common/delivery_confirmation.hpp"

#include <gtest/gtest.h>

namespace llmp {
namespace {

TEST(delivery_confirmation, round_trips) {
    delivery_confirmation m{"api-1", 1700000000123, {"r1", "r2"}, false};
    auto back = decode_delivery_confirmation(encode(m));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back.value().server_id, "api-1");
    EXPECT_EQ(back.value().sent_at_ms, 1700000000123);
    EXPECT_EQ(back.value().request_ids, (std::vector<std::string>{"r1", "r2"}));
    EXPECT_FALSE(back.value().leaving);
    EXPECT_EQ(encode(m).find("leaving"), std::string::npos) << "only the last one says it";
}

TEST(delivery_confirmation, an_empty_one_is_a_keepalive_and_leaving_is_carried) {
    auto back = decode_delivery_confirmation(R"({"server_id":"api-1","sent_at_ms":5,"leaving":true})");
    ASSERT_TRUE(back);
    EXPECT_TRUE(back.value().request_ids.empty());
    EXPECT_TRUE(back.value().leaving);
}

TEST(delivery_confirmation, malformed_ones_are_refused) {
    for (const char* body :
         {"", "[]", R"({"sent_at_ms":1})", R"({"server_id":""})", R"({"server_id":"a","request_ids":"r1"})",
          R"({"server_id":"a","request_ids":[1]})", R"({"server_id":"a","request_ids":[""]})"}) {
        auto r = decode_delivery_confirmation(body);
        ASSERT_FALSE(r) << body;
        EXPECT_EQ(r.error().code, "malformed_message") << body;
    }
}

}  // namespace
}  // namespace llmp

#include "common/ids.hpp"
#include "common/json_escape.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace llmp {
namespace {

TEST(ids, uuid_is_v4_and_unique) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto id = new_uuid();
        ASSERT_EQ(id.size(), 36u);
        EXPECT_EQ(id[14], '4');
        EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
        EXPECT_TRUE(seen.insert(id).second);
    }
}

TEST(ids, component_id_is_a_routing_key_word) {
    auto id = new_component_id("api");
    EXPECT_EQ(id.rfind("api-", 0), 0u);
    EXPECT_EQ(id.find_first_of(".*#"), std::string::npos);
    EXPECT_NE(id, new_component_id("api"));
}

TEST(json_escape, matches_a_json_parser) {
    for (std::string s :
         {std::string{"plain"}, std::string{"quote \" back \\ slash"}, std::string{"new\nline\ttab\r\b\f"},
          std::string{"ctl \x01\x1f end"}, std::string{"utf8 héllo 🦙"}, std::string{}}) {
        std::string out;
        append_json_string(out, s);
        auto parsed = nlohmann::json::parse(out);
        EXPECT_EQ(parsed.get<std::string>(), s);
    }
}

}  // namespace
}  // namespace llmp

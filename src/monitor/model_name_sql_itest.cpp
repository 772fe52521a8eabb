// normalized_model_sql against the real PostgreSQL: the SQL rule and the C++ rule
// (normalize_model_name) agree on every kind of name.

#include "monitor/model_name_sql.hpp"

#include "common/messages.hpp"
#include "pg/testing/require_database.hpp"

#include <gtest/gtest.h>

namespace llmp::monitor {
namespace {

TEST(model_name_sql, agrees_with_normalize_model_name) {
    LLMP_REQUIRE_DATABASE();
    auto conn = pg::connection::open(db_url, 3, "model_name_sql_itest");
    ASSERT_TRUE(conn) << conn.error().message;
    for (std::string name : {"mock", "mock:", "mock:latest", "llama3:8b", "hf.co/org/model", "host:5000/model",
                             "host:5000/model:q4", "Qwen/Qwen2.5-0.5B-Instruct", "a:b:c", "x/y:"}) {
        auto r = conn.value()->query("SELECT " + normalized_model_sql("$1::text"), {std::optional<std::string>{name}});
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_EQ(r.value().rows.size(), 1u);
        EXPECT_EQ(r.value().rows[0][0].value_or("<null>"), normalize_model_name(name)) << name;
    }
    auto empty =
        conn.value()->query("SELECT " + normalized_model_sql("$1::text"), {std::optional<std::string>{std::string{}}});
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty.value().rows[0][0].value_or("<null>"), "");
}

TEST(model_name_sql, spellings_are_every_name_of_the_same_model) {
    using v = std::vector<std::string>;
    EXPECT_EQ(model_name_spellings("mock"), (v{"mock:latest", "mock", "mock:"}));
    EXPECT_EQ(model_name_spellings("mock:latest"), (v{"mock:latest", "mock", "mock:"}));
    EXPECT_EQ(model_name_spellings("llama3:8b"), (v{"llama3:8b"}));
    for (const auto& s : model_name_spellings("host:5000/model")) {
        EXPECT_EQ(normalize_model_name(s), "host:5000/model:latest") << s;
    }
}

}  // namespace
}  // namespace llmp::monitor

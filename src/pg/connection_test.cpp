// pg::check_url: no connection needed.

#include "pg/connection.hpp"

#include <gtest/gtest.h>

namespace llmp::pg {
namespace {

TEST(check_url, accepts_both_forms) {
    EXPECT_TRUE(check_url("postgresql://u:p@h:5432/db?sslmode=disable"));
    EXPECT_TRUE(check_url("host=h port=5432 password='two words' dbname=d"));
}

TEST(check_url, an_invalid_url_is_refused_without_its_password) {
    for (const char* url : {"host=h password=hunter2 secret dbname=d", "host=h password='hunter2 secret",
                            "postgresql://u:hunter2secret@h/db?password=hunter2secret&bogus_option=1"}) {
        auto r = check_url(url);
        ASSERT_FALSE(r) << url;
        EXPECT_EQ(r.error().code, "bad_config");
        EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos) << r.error().message;
        EXPECT_EQ(r.error().message.find("secret"), std::string::npos) << r.error().message;
    }
}

}  // namespace
}  // namespace llmp::pg

#include "common/secret_mask.hpp"

#include <gtest/gtest.h>

namespace llmp {
namespace {

TEST(mask_secrets, masks_the_password_of_a_url) {
    EXPECT_EQ(mask_secrets("postgres://u:p@h/db"), "postgres://u:***@h/db");
    EXPECT_EQ(mask_secrets("postgresql://alice:s3cret@db.local:5432/llmproxy"),
              "postgresql://alice:***@db.local:5432/llmproxy");
    EXPECT_EQ(mask_secrets("amqp://u:p@h:5672/vh"), "amqp://u:***@h:5672/vh");
    EXPECT_EQ(mask_secrets("http://u:p@h:15672"), "http://u:***@h:15672");
    EXPECT_EQ(mask_secrets("amqp://u:p@ss/w@rd@h/"), "amqp://u:***@h/") << "'@' and '/' in the password";
}

TEST(mask_secrets, masks_password_query_parameters) {
    EXPECT_EQ(mask_secrets("postgresql://u:p@h/db?password=x"), "postgresql://u:***@h/db?password=***");
    EXPECT_EQ(mask_secrets("postgresql://h/db?sslmode=require&password=x&user=u"),
              "postgresql://h/db?sslmode=require&password=***&user=u");
    EXPECT_EQ(mask_secrets("postgresql:///db?sslpassword=x#frag"), "postgresql:///db?sslpassword=***#frag");
    EXPECT_EQ(mask_secrets("postgresql://h/db?PASSWORD=x"), "postgresql://h/db?PASSWORD=***");
}

TEST(mask_secrets, masks_keyword_connection_strings) {
    EXPECT_EQ(mask_secrets("host=h password=x user=u"), "host=h password=*** user=u");
    EXPECT_EQ(mask_secrets("host=h password='quoted value' user=u"), "host=h password=*** user=u");
    EXPECT_EQ(mask_secrets("password = 'it\\'s secret' dbname=d"), "password=*** dbname=d");
    EXPECT_EQ(mask_secrets("  host = h   sslpassword=x"), "host=h sslpassword=***");
    auto broken = mask_secrets("host=h password='never closed secret");
    EXPECT_EQ(broken.find("secret"), std::string::npos) << broken;
    auto no_eq = mask_secrets("host=h secret words");
    EXPECT_EQ(no_eq.find("secret"), std::string::npos) << no_eq;
}

TEST(mask_secrets, leaves_strings_without_secrets_alone) {
    EXPECT_EQ(mask_secrets("postgres://u@h/db"), "postgres://u@h/db");
    EXPECT_EQ(mask_secrets("http://127.0.0.1:15672"), "http://127.0.0.1:15672");
    EXPECT_EQ(mask_secrets("host=h dbname=d"), "host=h dbname=d");
    EXPECT_EQ(mask_secrets("llmproxy"), "llmproxy");
    EXPECT_EQ(mask_secrets(""), "");
    EXPECT_EQ(mask_secrets("amqp:/u:p@h"), "***@h") << "a mistyped URL loses its user info";
}

}  // namespace
}  // namespace llmp

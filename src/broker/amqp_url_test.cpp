#include "broker/connection.hpp"

#include <gtest/gtest.h>

namespace llmp::broker {
namespace {

TEST(amqp_url, parses_every_part) {
    auto ep = parse_amqp_url("amqp://alice:s%40cret@rabbit.local:5673/prod%2Fa");
    ASSERT_TRUE(ep) << ep.error().message;
    EXPECT_EQ(ep.value().user, "alice");
    EXPECT_EQ(ep.value().password, "s@cret");
    EXPECT_EQ(ep.value().host, "rabbit.local");
    EXPECT_EQ(ep.value().port, 5673);
    EXPECT_EQ(ep.value().vhost, "prod/a");
}

TEST(amqp_url, defaults) {
    auto ep = parse_amqp_url("amqp://localhost");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep.value().host, "localhost");
    EXPECT_EQ(ep.value().port, 5672);
    EXPECT_EQ(ep.value().user, "guest");
    EXPECT_EQ(ep.value().vhost, "/");
}

TEST(amqp_url, rejects_bad_input) {
    EXPECT_FALSE(parse_amqp_url("http://localhost"));
    EXPECT_FALSE(parse_amqp_url("amqp://host:99999/"));
    EXPECT_FALSE(parse_amqp_url("amqp://host:abc/"));
}

TEST(amqp_url, errors_never_echo_the_password) {
    for (const char* url : {"amqp://alice:hunter2@rabbit.local:notaport/", "amqps://alice:hunter2@rabbit.local/",
                            "http://alice:hunter2@rabbit.local:5672/", "amqp://alice:hunter2@rabbit.local:70000"}) {
        auto ep = parse_amqp_url(url);
        ASSERT_FALSE(ep) << url;
        EXPECT_EQ(ep.error().message.find("hunter2"), std::string::npos) << ep.error().message;
        EXPECT_NE(ep.error().message.find("rabbit.local"), std::string::npos) << "still says which URL";
    }
}

TEST(amqp_url, a_list_splits_on_commas_trimming_blanks_and_dropping_empty_items) {
    EXPECT_EQ(split_amqp_urls("amqp://a:5672/, amqp://b:5673/ ,,amqp://c/"),
              (std::vector<std::string>{"amqp://a:5672/", "amqp://b:5673/", "amqp://c/"}));
    EXPECT_EQ(split_amqp_urls("amqp://only/"), (std::vector<std::string>{"amqp://only/"}));
    EXPECT_TRUE(split_amqp_urls(" , ").empty());
}

TEST(amqp_url, a_list_parses_as_its_first_url) {
    auto ep = parse_amqp_url("amqp://u:p@rabbit1:5673/v,amqp://u:p@rabbit2:5674/v");
    ASSERT_TRUE(ep) << ep.error().message;
    EXPECT_EQ(ep.value().host, "rabbit1");
    EXPECT_EQ(ep.value().port, 5673);
    EXPECT_EQ(ep.value().vhost, "v");
}

}  // namespace
}  // namespace llmp::broker

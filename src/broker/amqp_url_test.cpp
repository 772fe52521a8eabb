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

}  // namespace
}  // namespace llmp::broker

#include "api/request_timeout.hpp"

#include <gtest/gtest.h>

#include <string>

namespace llmp::api {
namespace {

constexpr std::int64_t default_ms = 600000;
constexpr std::int64_t max_ms = 3600000;

result<std::int64_t> with_header(std::string_view h, std::int64_t body = 0) {
    return request_timeout_ms(body, h, default_ms, max_ms);
}

TEST(request_timeout, the_body_wins_over_the_header_which_wins_over_the_default) {
    EXPECT_EQ(request_timeout_ms(0, std::nullopt, default_ms, max_ms).value(), default_ms);
    EXPECT_EQ(request_timeout_ms(0, std::nullopt, 0, max_ms).value(), 0);  // the server's "none"
    EXPECT_EQ(with_header("1500").value(), 1500);
    EXPECT_EQ(with_header("1500", 700).value(), 700);
    EXPECT_EQ(request_timeout_ms(700, std::nullopt, default_ms, max_ms).value(), 700);
    EXPECT_EQ(with_header("1").value(), 1);
    EXPECT_EQ(with_header("3600000").value(), max_ms);
    EXPECT_EQ(request_timeout_ms(max_ms, std::nullopt, default_ms, max_ms).value(), max_ms);
}

// The value becomes the AMQP expiration (RabbitMQ closes the channel above 2^32-1) and
// received_at_ms + timeout_ms (int64 overflow near 2^63): it used to be taken as sent.
TEST(request_timeout, a_header_outside_1_to_the_maximum_is_refused) {
    for (const char* h :
         {"0", "-1", "3600001", "4294967296", "99999999999999", "9223372036854775807", "9223372036854775808",
          "18446744073709551616", "-9223372036854775808", "1e3", "3.5", "", " 5", "5 ", "+5", "0x10", "five", "true"}) {
        auto r = with_header(h);
        ASSERT_FALSE(r) << h;
        EXPECT_EQ(r.error().code, "invalid_field");
        EXPECT_EQ(r.error().message,
                  "X-Request-Timeout-Ms must be an integer from 1 to 3600000 (milliseconds; this server's maximum)");
    }
}

TEST(request_timeout, a_body_timeout_above_the_maximum_is_refused) {
    for (std::int64_t t : {max_ms + 1, std::int64_t{4294967296}, std::int64_t{9223372036854775807}}) {
        auto r = request_timeout_ms(t, std::nullopt, default_ms, max_ms);
        ASSERT_FALSE(r) << t;
        EXPECT_EQ(r.error().code, "invalid_field");
        EXPECT_EQ(r.error().message.rfind("timeout_ms must be an integer from 1 to 3600000", 0), 0u);
    }
    // A bad header is refused even when the body sets the timeout.
    EXPECT_FALSE(with_header("99999999999999", 700));
}

TEST(request_timeout, x_priority_is_an_integer_from_0_to_9) {
    EXPECT_EQ(header_priority(std::nullopt).value(), std::nullopt);
    EXPECT_EQ(header_priority("0").value(), 0);
    EXPECT_EQ(header_priority("9").value(), 9);
    for (const char* h : {"10", "-1", "256", "4294967296", "18446744073709551616", "3.5", "", "high", " 1"}) {
        auto r = header_priority(h);
        ASSERT_FALSE(r) << h;
        EXPECT_EQ(r.error().message, "X-Priority must be an integer from 0 to 9");
    }
}

}  // namespace
}  // namespace llmp::api

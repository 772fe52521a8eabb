#include "http/accept_backoff.hpp"

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

#include <cerrno>

namespace llmp::http_server {
namespace {

using namespace std::chrono_literals;

beast::error_code sys(int e) {
    return {e, boost::system::system_category()};
}

TEST(accept_backoff, running_out_of_descriptors_or_memory_pauses_instead_of_retrying_at_once) {
    accept_backoff b{100ms};
    for (int e : {EMFILE, ENFILE, ENOBUFS, ENOMEM}) {
        EXPECT_EQ(b.on_error(sys(e)), 100ms) << e;
    }
    EXPECT_EQ(b.pauses(), 4u);
}

TEST(accept_backoff, a_failure_of_one_connection_retries_at_once) {
    accept_backoff b{100ms};
    EXPECT_EQ(b.on_error(net::error::connection_aborted), 0ms);
    EXPECT_EQ(b.on_error(sys(ECONNABORTED)), 0ms);
    EXPECT_EQ(b.on_error(sys(EPROTO)), 0ms);
    EXPECT_EQ(b.pauses(), 0u);
    EXPECT_FALSE(b.on_accept()) << "no pause period to end";
}

TEST(accept_backoff, a_run_of_pauses_is_one_period_logged_when_it_starts_and_ends) {
    accept_backoff b{50ms};
    b.on_error(sys(EMFILE));
    EXPECT_TRUE(b.period_started());
    b.on_error(sys(EMFILE));
    EXPECT_FALSE(b.period_started()) << "the same period: no second log line";
    b.on_error(sys(ENFILE));
    EXPECT_FALSE(b.period_started());
    EXPECT_TRUE(b.on_accept()) << "the period ends with the next accepted connection";
    EXPECT_FALSE(b.on_accept());
    b.on_error(sys(EMFILE));
    EXPECT_TRUE(b.period_started()) << "a new period";
    EXPECT_EQ(b.pauses(), 4u);
}

}  // namespace
}  // namespace llmp::http_server

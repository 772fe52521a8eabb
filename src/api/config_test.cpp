#include "api/config.hpp"

#include <gtest/gtest.h>

namespace llmp::api {
namespace {

TEST(api_config, listens_on_loopback_unless_told_otherwise) {
    // scripts/up prints 127.0.0.1; serving other hosts takes an explicit --listen.
    EXPECT_EQ(api_config{}.listen_address, "127.0.0.1");
}

TEST(api_config, bounds_slow_clients_and_connection_floods_by_default) {
    api_config c;
    EXPECT_GT(c.write_timeout.count(), 0);
    EXPECT_GT(c.read_timeout.count(), 0);
    EXPECT_GT(c.max_connections, 0);
}

}  // namespace
}  // namespace llmp::api

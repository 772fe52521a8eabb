#include "http/router.hpp"

#include <gtest/gtest.h>

namespace llmp::http_server {
namespace {

TEST(router, finds_routes_and_tells_404_from_405) {
    router r;
    handler h = [](request_context&) -> net::awaitable<void> { co_return; };
    r.add(http::verb::post, "/api/chat", h).add(http::verb::get, "/api/models", h);
    http::status why{};
    EXPECT_NE(r.find(http::verb::post, "/api/chat", why), nullptr);
    EXPECT_NE(r.find(http::verb::head, "/api/models", why), nullptr);
    EXPECT_EQ(r.find(http::verb::get, "/api/chat", why), nullptr);
    EXPECT_EQ(why, http::status::method_not_allowed);
    EXPECT_EQ(r.allowed("/api/chat"), "POST");
    EXPECT_EQ(r.find(http::verb::get, "/nope", why), nullptr);
    EXPECT_EQ(why, http::status::not_found);
}

}  // namespace
}  // namespace llmp::http_server

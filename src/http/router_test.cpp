#include "http/router.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

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

TEST(router, wrap_sees_every_route_and_the_unmatched_handler) {
    router r;
    handler h = [](request_context&) -> net::awaitable<void> { co_return; };
    r.add(http::verb::post, "/api/chat", h).add(http::verb::get, "/api/models", h);
    std::vector<std::pair<http::verb, std::string>> seen;
    r.wrap([&seen](http::verb m, std::string_view path, handler inner) {
        seen.emplace_back(m, std::string{path});
        return inner;
    });
    std::vector<std::pair<http::verb, std::string>> want{
        {http::verb::get, "/api/models"}, {http::verb::post, "/api/chat"}, {http::verb::unknown, ""}};
    std::sort(seen.begin(), seen.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(seen, want);
}

}  // namespace
}  // namespace llmp::http_server

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

TEST(router, a_star_route_serves_the_paths_below_it_unless_an_exact_one_does) {
    router r;
    handler h = [](request_context&) -> net::awaitable<void> { co_return; };
    r.add(http::verb::get, "/v1/models", h)
        .add(http::verb::get, "/v1/models/*", h)
        .add(http::verb::get, "/v1/models/special", h)
        .add(http::verb::get, "/v1/*", h);
    http::status why{};
    auto found = [&](std::string_view path) -> const handler* { return r.find(http::verb::get, path, why); };
    ASSERT_NE(found("/v1/models/hf.co/org/m:latest"), nullptr);
    EXPECT_EQ(found("/v1/models/hf.co/org/m:latest"), found("/v1/models/x"));
    EXPECT_NE(found("/v1/models/special"), found("/v1/models/x"));
    EXPECT_NE(found("/v1/models"), found("/v1/models/x"));
    EXPECT_NE(found("/v1/other"), found("/v1/models/x"));  // the longest prefix wins
    EXPECT_EQ(found("/v2/models/x"), nullptr);
    EXPECT_EQ(why, http::status::not_found);
    EXPECT_EQ(r.find(http::verb::post, "/v1/models/x", why), nullptr);
    EXPECT_EQ(why, http::status::method_not_allowed);
    EXPECT_EQ(r.allowed("/v1/models/x"), "GET");
}

}  // namespace
}  // namespace llmp::http_server

#include "api/anthropic_routes.hpp"

#include "api/anthropic_renderer.hpp"
#include "api/anthropic_request_parser.hpp"
#include "api/relay.hpp"

namespace llmp::api {
namespace {

net::awaitable<void> handle_messages(context& ctx, http_server::request_context& rc) {
    auto parsed = parse_anthropic_request(rc.req.body());
    if (!parsed) {
        auto res = anthropic_error_response(parsed.error());
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    anthropic_reply_options o;
    o.stream = parsed.value().stream;
    o.model = parsed.value().model;
    auto renderer = make_anthropic_renderer(std::move(o));
    co_await relay_generation(ctx, rc, std::move(parsed.value()), *renderer);
}

}  // namespace

void add_anthropic_routes(http_server::router& routes, context& ctx) {
    routes.add(http::verb::post, "/v1/messages",
               [&ctx](http_server::request_context& rc) { return handle_messages(ctx, rc); });
}

}  // namespace llmp::api

#include "api/native_routes.hpp"

#include "api/native_renderer.hpp"
#include "api/native_request_parser.hpp"
#include "api/image_inputs.hpp"
#include "api/relay.hpp"
#include "http/error_response.hpp"

namespace llmp::api {
namespace {

/// Answers a request that is not relayed. A coroutine of its own so that the reply is not a
/// local of handle_generation's frame, which lives as long as the stream does (issue 13, item 5).
net::awaitable<void> refuse(http_server::request_context& rc, const llmp::error& e) {
    auto res = http_server::error_response(e);  // named: g++ 12 and temporaries in co_await
    co_await http_server::send(rc, std::move(res));
}

net::awaitable<void> handle_generation(context& ctx, http_server::request_context& rc, request_kind kind) {
    auto parsed = parse_native_generation_request(rc.req.body(), kind);
    if (!parsed) {
        co_await refuse(rc, parsed.error());
        co_return;
    }
    auto& m = parsed.value().message;
    if (auto images = check_request_images(m, ctx.cfg.allow_remote_images); !images) {
        co_await refuse(rc, images.error());
        co_return;
    }
    const bool resumable = parsed.value().resumable;
    auto renderer = make_native_renderer(kind, m.stream, resumable);
    co_await relay_generation(ctx, rc, std::move(m), *renderer, std::nullopt,
                              resumable ? stream_resumability::resumable : stream_resumability::plain);
}

}  // namespace

void add_native_routes(http_server::router& routes, context& ctx) {
    routes.add(http::verb::post, "/api/chat",
               [&ctx](http_server::request_context& rc) { return handle_generation(ctx, rc, request_kind::chat); });
    routes.add(http::verb::post, "/api/generate",
               [&ctx](http_server::request_context& rc) { return handle_generation(ctx, rc, request_kind::generate); });
}

}  // namespace llmp::api

#include "api/openai_routes.hpp"

#include "api/openai_renderer.hpp"
#include "api/openai_request_parser.hpp"
#include "api/relay.hpp"
#include "common/clock.hpp"
#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

namespace llmp::api {
namespace {

openai_reply_options reply_options(const openai_request& r) {
    openai_reply_options o;
    o.kind = r.msg.kind;
    o.stream = r.msg.stream;
    o.include_usage = r.include_usage;
    o.model = r.msg.model;
    return o;
}

net::awaitable<void> handle_openai_generation(context& ctx, http_server::request_context& rc, request_kind kind) {
    auto parsed = parse_openai_request(rc.req.body(), kind);
    if (!parsed) {
        auto res = openai_error_response(parsed.error());
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto renderer = make_openai_renderer(reply_options(parsed.value()));
    co_await relay_generation(ctx, rc, std::move(parsed.value().msg), *renderer);
}

/// GET /v1/models: the models live workers serve, by the names clients send back.
http_server::response models_list(const context& ctx) {
    // Workers do not say when a model was made; the server's start stands in for it.
    static const std::int64_t created = unix_ms() / 1000;
    nlohmann::json data = nlohmann::json::array();
    for (const auto& m : ctx.workers.models()) {
        data.push_back({{"id", m}, {"object", "model"}, {"created", created}, {"owned_by", "llmproxy"}});
    }
    nlohmann::json body = {{"object", "list"}, {"data", std::move(data)}};
    return http_server::json_response(http::status::ok, body);
}

}  // namespace

void add_openai_routes(http_server::router& routes, context& ctx) {
    routes.add(http::verb::post, "/v1/chat/completions", [&ctx](http_server::request_context& rc) {
        return handle_openai_generation(ctx, rc, request_kind::chat);
    });
    routes.add(http::verb::post, "/v1/completions", [&ctx](http_server::request_context& rc) {
        return handle_openai_generation(ctx, rc, request_kind::generate);
    });
    routes.add(http::verb::get, "/v1/models", [&ctx](http_server::request_context& rc) -> net::awaitable<void> {
        co_await http_server::send(rc, models_list(ctx));
    });
}

}  // namespace llmp::api

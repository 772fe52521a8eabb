#include "api/embedding_routes.hpp"

#include "api/embedding_renderer.hpp"
#include "api/embedding_request_parser.hpp"
#include "api/relay.hpp"

namespace llmp::api {
namespace {

net::awaitable<void> handle_embedding(context& ctx, http_server::request_context& rc, embedding_flavour flavour) {
    // Plain ifs, no ?: over results: GCC 12 and temporaries in coroutines.
    result<embedding_request> parsed = fail("invalid_field", "");
    if (flavour == embedding_flavour::openai) {
        parsed = parse_openai_embedding_request(rc.req.body());
    } else {
        parsed = parse_ollama_embedding_request(rc.req.body(), flavour == embedding_flavour::ollama_legacy);
    }
    if (!parsed) {
        auto renderer = make_embedding_renderer(flavour, false, {});
        auto res = renderer->failure(parsed.error());
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto renderer = make_embedding_renderer(flavour, parsed.value().base64, parsed.value().msg.model);
    co_await relay_generation(ctx, rc, std::move(parsed.value().msg), *renderer);
}

}  // namespace

void add_embedding_routes(http_server::router& routes, context& ctx) {
    routes.add(http::verb::post, "/v1/embeddings", [&ctx](http_server::request_context& rc) {
        return handle_embedding(ctx, rc, embedding_flavour::openai);
    });
    routes.add(http::verb::post, "/ollama/api/embed", [&ctx](http_server::request_context& rc) {
        return handle_embedding(ctx, rc, embedding_flavour::ollama);
    });
    routes.add(http::verb::post, "/ollama/api/embeddings", [&ctx](http_server::request_context& rc) {
        return handle_embedding(ctx, rc, embedding_flavour::ollama_legacy);
    });
}

}  // namespace llmp::api

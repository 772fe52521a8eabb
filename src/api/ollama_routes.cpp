#include "api/ollama_routes.hpp"

#include "api/model_listing.hpp"
#include "api/ollama_renderer.hpp"
#include "api/image_inputs.hpp"
#include "api/relay.hpp"
#include "api/native_request_parser.hpp"
#include "common/clock.hpp"
#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

namespace llmp::api {
namespace {

using json = nlohmann::json;

net::awaitable<void> handle_ollama_generation(context& ctx, http_server::request_context& rc, request_kind kind) {
    auto parsed = parse_generation_request(rc.req.body(), kind);
    if (!parsed) {
        auto res = ollama_error_response(parsed.error());
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto& m = parsed.value();
    if (auto images = check_request_images(m, ctx.cfg.allow_remote_images); !images) {
        auto res = ollama_error_response(images.error(), m.model);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    m.api_flavour = "ollama";
    auto renderer = make_ollama_renderer(kind, m.stream, m.model);
    co_await relay_generation(ctx, rc, std::move(m), *renderer);
}

http_server::response ollama_json(const json& body) {
    auto res = http_server::json_response(http::status::ok, body);
    res.set(http::field::content_type, "application/json; charset=utf-8");
    return res;
}

/// GET /ollama/api/tags. Workers announce names only: size, digest and details are unknown
/// and left empty (clients display them, none depends on them).
http_server::response tags(const context& ctx) {
    static const std::string modified_at = ollama_timestamp(std::chrono::system_clock::now());
    json models = json::array();
    for (const auto& m : list_models(ctx.workers, ctx.cfg.aliases)) {
        const auto& name = m.name;
        json details = {{"parent_model", ""},        {"format", ""},         {"family", ""},
                        {"families", json::array()}, {"parameter_size", ""}, {"quantization_level", ""}};
        models.push_back({{"name", name},
                          {"model", name},
                          {"modified_at", modified_at},
                          {"size", 0},
                          {"digest", ""},
                          {"details", std::move(details)}});
    }
    json body = {{"models", std::move(models)}};
    return ollama_json(body);
}

http_server::response version() {
    json body = {{"version", emulated_ollama_version}};
    return ollama_json(body);
}

/// GET or HEAD /ollama/: Ollama's liveness answer.
http_server::response root(const http_server::request& req) {
    http_server::response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    if (req.method() != http::verb::head) {
        res.body() = "Ollama is running";
    }
    return res;
}

}  // namespace

void add_ollama_routes(http_server::router& routes, context& ctx) {
    routes.add(http::verb::post, "/ollama/api/chat", [&ctx](http_server::request_context& rc) {
        return handle_ollama_generation(ctx, rc, request_kind::chat);
    });
    routes.add(http::verb::post, "/ollama/api/generate", [&ctx](http_server::request_context& rc) {
        return handle_ollama_generation(ctx, rc, request_kind::generate);
    });
    routes.add(http::verb::get, "/ollama/api/tags", [&ctx](http_server::request_context& rc) -> net::awaitable<void> {
        co_await http_server::send(rc, tags(ctx));
    });
    routes.add(http::verb::get, "/ollama/api/version", [](http_server::request_context& rc) -> net::awaitable<void> {
        co_await http_server::send(rc, version());
    });
    for (const char* path : {"/ollama", "/ollama/"}) {
        routes.add(http::verb::get, path, [](http_server::request_context& rc) -> net::awaitable<void> {
            co_await http_server::send(rc, root(rc.req));
        });
    }
}

}  // namespace llmp::api

#include "api/openai_routes.hpp"

#include "api/model_listing.hpp"
#include "api/openai_renderer.hpp"
#include "api/openai_request_parser.hpp"
#include "api/image_inputs.hpp"
#include "api/relay.hpp"
#include "common/clock.hpp"
#include "common/messages.hpp"
#include "http/error_response.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <optional>
#include <string_view>

namespace llmp::api {
namespace {

openai_reply_options reply_options(const openai_request& r) {
    openai_reply_options o;
    o.kind = r.msg.kind;
    o.stream = r.msg.stream;
    o.include_usage = r.include_usage;
    o.n = r.n;
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
    if (auto images = check_request_images(parsed.value().msg, ctx.cfg.allow_remote_images); !images) {
        auto res = openai_error_response(images.error());
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto renderer = make_openai_renderer(reply_options(parsed.value()));
    co_await relay_generation(ctx, rc, std::move(parsed.value().msg), *renderer);
}

/// Workers do not say when a model was made; the server's start stands in for it.
std::int64_t models_created() {
    static const std::int64_t created = unix_ms() / 1000;
    return created;
}

nlohmann::json model_object(const std::string& id) {
    return {{"id", id}, {"object", "model"}, {"created", models_created()}, {"owned_by", "llmproxy"}};
}

/// GET /v1/models: the models live workers serve and the aliases of those, by the names clients
/// send back, each once.
http_server::response models_list(const context& ctx) {
    nlohmann::json data = nlohmann::json::array();
    for (const auto& m : list_models(ctx.workers, ctx.cfg.aliases)) {
        data.push_back(model_object(m.name));
    }
    nlohmann::json body = {{"object", "list"}, {"data", std::move(data)}};
    return http_server::json_response(http::status::ok, body);
}

/// %XX escapes decoded (the SDKs encode the id: "llama3.2%3Alatest"); nullopt when malformed.
std::optional<std::string> percent_decoded(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        unsigned v = 0;
        if (i + 2 >= s.size() || std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(v));
        i += 2;
    }
    return out;
}

/// GET /v1/models/{id}: the model object, under the name GET /v1/models lists ("mock" ->
/// "mock:latest"), if a live worker serves it, else 404.
http_server::response model_retrieve(const context& ctx, const http_server::request& req) {
    constexpr std::string_view prefix = "/v1/models/";
    std::string_view target = req.target();
    auto path = target.substr(0, target.find('?'));
    auto id = percent_decoded(path.substr(prefix.size()));
    if (!id) {
        return openai_error_response({"invalid_field", "the model id in the path is not validly %-encoded"});
    }
    const auto* alias_of = ctx.cfg.aliases.target_of(*id);
    if (!ctx.workers.serves(alias_of != nullptr ? *alias_of : *id)) {
        return openai_error_response(
            {"model_not_found", "The model `" + *id + "` does not exist or is not served by any live worker."});
    }
    return http_server::json_response(http::status::ok,
                                      model_object(alias_of != nullptr ? *id : normalize_model_name(*id)));
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
    routes.add(http::verb::get, "/v1/models/*", [&ctx](http_server::request_context& rc) -> net::awaitable<void> {
        co_await http_server::send(rc, model_retrieve(ctx, rc.req));
    });
}

}  // namespace llmp::api

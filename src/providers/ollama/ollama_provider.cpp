#include "providers/ollama/ollama_provider.hpp"

#include "common/json_limits.hpp"
#include "common/logging.hpp"
#include "common/tool_calls.hpp"
#include "http/client.hpp"
#include "http/ndjson_splitter.hpp"
#include "providers/embedding_exchange.hpp"
#include "providers/error_text.hpp"
#include "providers/choice_fanout.hpp"
#include "providers/http_stream_generation.hpp"
#include "providers/ollama/ollama_wire.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <optional>

namespace llmp::providers {
namespace {

using http_client::client;
using http_client::outgoing_request;

constexpr std::size_t max_tags_body = 16 * 1024 * 1024;

/// A non-200 answer as a provider error, with Ollama's own text.
error status_failure(unsigned status, std::string_view reason, std::string_view body, const std::string& where,
                     std::string_view what) {
    std::string text = error_text(body);
    if (text.empty()) {
        text = reason.empty() ? "no error message" : std::string{reason};
    }
    if (status == 404) {
        return {"model_not_found", text + " (" + where + ")", false};
    }
    bool retryable = status >= 500 || status == 429 || status == 408;
    return {"upstream_error",
            where + " answered HTTP " + std::to_string(status) + " to " + std::string{what} + ": " + text, retryable};
}

/// The first image of `req` that is a URL (where, in the request) rather than base64 data.
std::optional<std::string> remote_image(const generation_request& req) {
    auto first_url = [](const nlohmann::json& images, const std::string& where) -> std::optional<std::string> {
        if (!images.is_array()) {
            return std::nullopt;
        }
        for (std::size_t i = 0; i < images.size(); ++i) {
            if (images[i].is_string() && images[i].get_ref<const std::string&>().find("://") != std::string::npos) {
                return where + "[" + std::to_string(i) + "]";
            }
        }
        return std::nullopt;
    };
    if (req.messages.is_array()) {
        for (std::size_t i = 0; i < req.messages.size(); ++i) {
            const auto& m = req.messages[i];
            if (auto it = m.is_object() ? m.find("images") : m.end(); it != m.end()) {
                if (auto u = first_url(*it, "messages[" + std::to_string(i) + "].images")) {
                    return u;
                }
            }
        }
    }
    if (auto it = req.extra.is_object() ? req.extra.find("images") : req.extra.end(); it != req.extra.end()) {
        return first_url(*it, "images");
    }
    return std::nullopt;
}

class ollama_generation final : public http_stream_generation {
public:
    ollama_generation(std::shared_ptr<const client> c, net::any_io_executor ex, const generation_request& req,
                      generation_callbacks cb)
        : http_stream_generation{std::move(c), std::move(ex), req.request_id, "ollama", "Ollama", std::move(cb)},
          path_{req.kind == request_kind::chat ? "/api/chat" : "/api/generate"},
          body_{ollama::request_body(req)} {}

private:
    outgoing_request make_request() override {
        outgoing_request req;
        req.method = http::verb::post;
        req.target = path_;
        req.body = std::move(body_);
        return req;
    }

    error status_error(const http_client::response_head& head, std::string_view body) override {
        return status_failure(head.status, head.reason, body, where(), "POST " + path_);
    }

    result<void> feed(std::string_view piece) override {
        return splitter_.feed(piece, [this](std::string_view line) {
            if (!finished_ && !end_seen_) {
                handle_line(line);
            }
        });
    }

    void body_ended() override {
        if (splitter_.has_partial()) {
            std::string last{splitter_.partial()};
            splitter_.reset();
            handle_line(last);
        }
        if (end_seen_) {
            finish_complete();
        } else if (!finished_) {
            finish_error({"upstream_error",
                          "Ollama closed the stream before it was done (" + where() + ", no done:true line)", true});
        }
    }

    completion take_completion() override { return std::move(completion_); }

    void handle_line(std::string_view line) {
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
            return;
        }
        if (cancel_requested_) {
            return;
        }
        auto parsed = parser_.parse(line);
        if (!parsed) {
            finish_error(parsed.error());
            return;
        }
        const auto& l = parsed.value();
        if (l.has_error) {
            finish_error({"upstream_error", "Ollama failed mid-stream: " + std::string{l.error}, true});
            return;
        }
        if (!l.delta.empty()) {
            emit_token(l.delta);
        }
        if (!l.tool_calls.empty()) {
            // Ollama sends each call whole, in a line of its own (or on the done line when not
            // streaming); they add up.
            auto parsed = parse_json_bounded(l.tool_calls, max_message_json_depth);
            for (auto& c : tool_calls_from_ollama(parsed ? parsed.value() : nlohmann::json{})) {
                tool_calls_.push_back(std::move(c));
            }
        }
        if (!l.logprobs.empty()) {
            auto parsed = parse_json_bounded(l.logprobs, max_message_json_depth);
            for (auto& e : ollama::logprobs_to_openai(parsed ? parsed.value() : nlohmann::json{})) {
                completion_.logprobs.push_back(std::move(e));
            }
        }
        if (l.done) {
            end_seen_ = true;
            completion_.done_reason = l.done_reason.empty() ? "stop" : std::string{l.done_reason};
            completion_.prompt_tokens = l.prompt_eval_count.value_or(0);
            completion_.completion_tokens = l.eval_count.value_or(deltas_);
            completion_.provider_metrics = ollama::metrics_json(l);
            completion_.tool_calls = std::move(tool_calls_);
        }
    }

    std::string path_;
    std::string body_;
    http_client::ndjson_splitter splitter_;
    ollama::stream_parser parser_;
    completion completion_;
    nlohmann::json tool_calls_ = nlohmann::json::array();
};

class ollama_provider final : public provider {
public:
    ollama_provider(const ollama_config& cfg, net::any_io_executor ex) : ex_{std::move(ex)} {
        http_client::client_options opts;
        opts.peer_name = "Ollama";
        opts.connect_timeout = cfg.connect_timeout;
        opts.idle_timeout = cfg.idle_timeout;
        opts.max_idle_connections = cfg.max_idle_connections;
        auto c = client::make(cfg.url, std::move(opts));
        if (c) {
            client_ = std::move(c).value();
        } else {
            config_error_ = error{"bad_config", "ollama url: " + c.error().message, false};
        }
    }

    std::string_view name() const override { return "ollama"; }

    net::awaitable<result<void>> init() override {
        auto m = co_await models();
        if (!m) {
            co_return m.error();
        }
        log::get("provider")->info("msg=\"ollama reachable\" url={} models={}", client_->url().text, m.value().size());
        co_return ok();
    }

    net::awaitable<result<std::vector<std::string>>> models() override {
        if (!client_) {
            co_return config_error_;
        }
        outgoing_request req;
        req.target = "/api/tags";
        auto r = co_await client_->fetch(std::move(req), max_tags_body);
        if (!r) {
            co_return upstream_failure(r.error(), "Ollama");
        }
        const std::string where = "Ollama at " + client_->url().text;
        if (r.value().status != 200) {
            co_return status_failure(r.value().status, {}, r.value().body, where, "GET /api/tags");
        }
        auto j = nlohmann::json::parse(r.value().body, nullptr, /*allow_exceptions=*/false);
        auto list = j.is_object() ? j.find("models") : j.end();
        if (!j.is_object() || list == j.end() || !list->is_array()) {
            co_return error{"upstream_error",
                            where +
                                " sent an unexpected answer to GET /api/tags (no models list); "
                                "is this really Ollama?",
                            false};
        }
        std::vector<std::string> names;
        for (const auto& m : *list) {
            if (!m.is_object()) {
                continue;
            }
            for (const char* key : {"name", "model"}) {
                auto it = m.find(key);
                if (it != m.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
                    names.push_back(normalize_model_name(it->get_ref<const std::string&>()));
                    break;
                }
            }
        }
        co_return names;
    }

    std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) override {
        if (!client_) {
            return failed_generation(ex_, config_error_, std::move(cb));
        }
        if (req.kind == request_kind::embed) {
            embedding_call call{"/api/embed",
                                ollama::embed_request_body(req),
                                {},
                                ollama::parse_embed_response,
                                [where = "Ollama at " + client_->url().text](const http_client::response_head& head,
                                                                             std::string_view body) {
                                    return status_failure(head.status, head.reason, body, where, "POST /api/embed");
                                }};
            auto g = std::make_shared<embedding_exchange>(client_, ex_, req.request_id, "ollama", "Ollama",
                                                          std::move(call), std::move(cb));
            g->start();
            return g;
        }
        if (auto url = remote_image(req)) {
            // Ollama takes image data only; the operator allowed URLs for upstreams that fetch.
            return failed_generation(ex_,
                                     {"invalid_field",
                                      *url + " is an image URL: an Ollama upstream takes image data only (send it "
                                             "base64-encoded or as a data: URL)",
                                      false},
                                     std::move(cb));
        }
        if (choices_wanted(req) > 1) {
            // Ollama answers one choice per request: n of them, merged (providers/choice_fanout.hpp).
            return start_choice_fanout(ex_, req, std::move(cb),
                                       [this](const generation_request& one, generation_callbacks one_cb) {
                                           return start(one, std::move(one_cb));
                                       });
        }
        auto g = std::make_shared<ollama_generation>(client_, ex_, req, std::move(cb));
        g->start();
        return g;
    }

private:
    net::any_io_executor ex_;
    std::shared_ptr<const client> client_;
    error config_error_;
};

}  // namespace

std::unique_ptr<provider> make_ollama_provider(const ollama_config& cfg, net::any_io_executor ex) {
    return std::make_unique<ollama_provider>(cfg, std::move(ex));
}

}  // namespace llmp::providers

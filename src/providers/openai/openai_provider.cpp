#include "providers/openai/openai_provider.hpp"

#include "common/logging.hpp"
#include "common/mutex.hpp"
#include "common/tool_calls.hpp"
#include "http/client.hpp"
#include "http/sse_reader.hpp"
#include "providers/embedding_exchange.hpp"
#include "providers/error_text.hpp"
#include "providers/http_stream_generation.hpp"
#include "providers/openai/openai_wire.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <unordered_map>

namespace llmp::providers {
namespace {

using http_client::client;
using http_client::outgoing_request;

constexpr std::size_t max_models_body = 16 * 1024 * 1024;

/// A non-200 answer as a provider error, with the upstream's own message.
error status_failure(const http_client::response_head& head, std::string_view body, const std::string& where,
                     std::string_view what) {
    std::string text = error_text(body);
    if (text.empty()) {
        text = head.reason.empty() ? "no error message" : head.reason;
    }
    const std::string code = openai::error_code(body);
    const unsigned status = head.status;
    const std::string said =
        where + " answered HTTP " + std::to_string(status) + " to " + std::string{what} + ": " + text;
    if (status == 404 || code == "model_not_found") {
        return {"model_not_found", text + " (" + where + ")", false};
    }
    if (status == 429) {
        std::string retry = head.retry_after.empty() ? "" : " (Retry-After: " + head.retry_after + ")";
        return {"upstream_rate_limited", said + retry, true};
    }
    if (status == 401 || status == 403) {
        // Not the upstream's text: it may quote part of the key ("Incorrect API key provided: sk-...wxyz").
        return {"upstream_auth_failed",
                where + " refused the API key (HTTP " + std::to_string(status) + (code.empty() ? "" : ", " + code) +
                    " to " + std::string{what} + "); check LLMPROXY_OPENAI_API_KEY / OPENAI_API_KEY",
                false};
    }
    if (status >= 400 && status < 500 && status != 408) {
        return {"upstream_bad_request", said, false};
    }
    return {"upstream_error", said, status >= 500 || status == 408};
}

/// The base URL with "/v1" added when it has no path (see openai_provider.hpp).
std::string effective_url(std::string url) {
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    auto scheme = url.find("://");
    auto path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (path == std::string::npos) {
        url += "/v1";
    }
    return url;
}

/// Normalized model name -> the id the upstream listed. Shared by the provider and its
/// generations; written by models(), read by start() on any thread.
class model_map {
public:
    void replace(std::unordered_map<std::string, std::string> m) {
        llmp::lock_guard lock{mu_};
        ids_ = std::move(m);
    }
    std::string upstream_id(const std::string& requested) const {
        llmp::lock_guard lock{mu_};
        auto it = ids_.find(normalize_model_name(requested));
        return it == ids_.end() ? requested : it->second;
    }

private:
    mutable llmp::mutex mu_;
    std::unordered_map<std::string, std::string> ids_ GUARDED_BY(mu_);
};

class openai_generation final : public http_stream_generation {
public:
    openai_generation(std::shared_ptr<const client> c, std::string auth, net::any_io_executor ex,
                      const generation_request& req, const std::string& upstream_model, generation_callbacks cb)
        : http_stream_generation{std::move(c), std::move(ex), req.request_id, "openai", "OpenAI-compatible server",
                                 std::move(cb)},
          auth_{std::move(auth)},
          path_{req.kind == request_kind::chat ? "/chat/completions" : "/completions"},
          body_{openai::request_body(req, upstream_model)} {
        // n > 1 on chat (the body asked for it): the upstream streams every choice, each chunk
        // naming its index. Nothing is made for n = 1.
        if (const int n = choices_wanted(req); n > 1 && req.kind == request_kind::chat) {
            more_.resize(static_cast<std::size_t>(n - 1));
        }
    }

private:
    outgoing_request make_request() override {
        outgoing_request req;
        req.method = http::verb::post;
        req.target = path_;
        req.body = std::move(body_);
        req.headers.emplace_back("Accept", "text/event-stream");
        if (!auth_.empty()) {
            req.headers.emplace_back("Authorization", auth_);
        }
        return req;
    }

    error status_error(const http_client::response_head& head, std::string_view body) override {
        return status_failure(head, body, where(), "POST " + path_);
    }

    result<void> feed(std::string_view piece) override {
        return reader_.feed(piece, [this](const http_client::sse_event& e) {
            if (!finished_ && !end_seen_) {
                handle_event(e.data);
            }
        });
    }

    void body_ended() override {
        if (all_finished()) {
            finish_complete();  // no [DONE], but the answer was complete
        } else {
            finish_error(
                {"upstream_error",
                 "the upstream closed the stream before it was done (" + where() + ", no finish_reason and no [DONE])",
                 true});
        }
    }

    completion take_completion() override {
        if (usage_.is_null()) {
            completion_.prompt_tokens = 0;
            completion_.completion_tokens = deltas_;
            completion_.provider_metrics = nlohmann::json{{"usage", "estimated"}, {"chunks", deltas_}};
        } else {
            completion_.provider_metrics = nlohmann::json{{"usage", "upstream"}, {"upstream_usage", std::move(usage_)}};
        }
        completion_.tool_calls = tool_calls_.take();
        for (std::size_t i = 0; i < more_.size(); ++i) {
            auto& c = completion_.choices.emplace_back();
            c.index = static_cast<int>(i) + 1;
            c.done_reason = std::move(more_[i].done_reason);
            c.tool_calls = more_[i].tool_calls.take();
            c.logprobs = std::move(more_[i].logprobs);
        }
        return std::move(completion_);
    }

    void handle_event(std::string_view data) {
        if (cancel_requested_) {
            return;
        }
        if (data == "[DONE]") {
            end_seen_ = true;
            return;
        }
        auto parsed = openai::parse_chunk(data);
        if (!parsed) {
            finish_error(parsed.error());
            return;
        }
        auto& c = parsed.value();
        if (c.has_error) {
            finish_error({"upstream_error", "the upstream failed mid-stream (" + where() + "): " + c.error, true});
            return;
        }
        take_choice(c);
        for (auto& other : c.others) {
            take_choice(other);
        }
        if (c.has_usage) {
            usage_ = std::move(c.usage);
            completion_.prompt_tokens = c.prompt_tokens;
            completion_.completion_tokens = c.completion_tokens;
        }
    }

    /// One choice's part of an event: its text out, its calls, logprobs and finish kept.
    void take_choice(openai::stream_chunk& c) {
        if (c.index == 0) {
            if (!c.delta.empty()) {
                emit_token(c.delta);
            }
            if (!c.tool_calls.is_null()) {
                tool_calls_.add(c.tool_calls);
            }
            if (c.logprobs.is_array()) {
                for (auto& entry : c.logprobs) {
                    completion_.logprobs.push_back(std::move(entry));
                }
            }
            if (!c.finish_reason.empty()) {
                finish_seen_ = true;
                completion_.done_reason = c.finish_reason;
            }
            return;
        }
        if (c.index < 0 || static_cast<std::size_t>(c.index) > more_.size()) {
            return;  // a choice not asked for (an upstream that ignores n sends index 0 only)
        }
        auto& s = more_[static_cast<std::size_t>(c.index) - 1];
        if (!c.delta.empty()) {
            emit_choice_token(c.index, c.delta);
        }
        if (!c.tool_calls.is_null()) {
            s.tool_calls.add(c.tool_calls);
        }
        if (c.logprobs.is_array()) {
            for (auto& entry : c.logprobs) {
                s.logprobs.push_back(std::move(entry));
            }
        }
        if (!c.finish_reason.empty()) {
            s.finished = true;
            s.done_reason = c.finish_reason;
        }
    }

    /// Every choice asked for has its finish_reason.
    bool all_finished() const {
        if (!finish_seen_) {
            return false;
        }
        for (const auto& s : more_) {
            if (!s.finished) {
                return false;
            }
        }
        return true;
    }

    /// What choices 1..n-1 gather while they stream (choice 0's is completion_ and tool_calls_).
    struct choice_state {
        std::string done_reason = "stop";
        tool_call_assembler tool_calls;
        nlohmann::json logprobs = nlohmann::json::array();
        bool finished = false;
    };

    std::string auth_;
    std::string path_;
    std::string body_;
    http_client::sse_reader reader_;
    completion completion_;
    tool_call_assembler tool_calls_;
    std::vector<choice_state> more_;
    nlohmann::json usage_;
    bool finish_seen_ = false;
};

class openai_provider final : public provider {
public:
    openai_provider(const openai_config& cfg, net::any_io_executor ex)
        : ex_{std::move(ex)}, models_{std::make_shared<model_map>()} {
        http_client::client_options opts;
        opts.peer_name = "OpenAI-compatible server";
        opts.connect_timeout = cfg.connect_timeout;
        opts.idle_timeout = cfg.idle_timeout;
        opts.max_idle_connections = cfg.max_idle_connections;
        auto c = client::make(effective_url(cfg.url), std::move(opts));
        if (c) {
            client_ = std::move(c).value();
        } else {
            config_error_ = error{"bad_config", "openai url: " + c.error().message, false};
        }
        if (!cfg.api_key.empty()) {
            auth_ = "Bearer " + cfg.api_key;
        }
    }

    std::string_view name() const override { return "openai"; }

    net::awaitable<result<void>> init() override {
        auto m = co_await models();
        if (!m) {
            co_return m.error();
        }
        log::get("provider")
            ->info("msg=\"openai upstream reachable\" url={} models={} api_key={}", client_->url().text,
                   m.value().size(), auth_.empty() ? "none" : "set");
        co_return ok();
    }

    net::awaitable<result<std::vector<std::string>>> models() override {
        if (!client_) {
            co_return config_error_;
        }
        outgoing_request req;
        req.target = "/models";
        if (!auth_.empty()) {
            req.headers.emplace_back("Authorization", auth_);
        }
        auto r = co_await client_->fetch(std::move(req), max_models_body);
        if (!r) {
            co_return upstream_failure(r.error(), "the upstream");
        }
        const std::string where = "OpenAI-compatible server at " + client_->url().text;
        if (r.value().status != 200) {
            http_client::response_head head;
            head.status = r.value().status;
            auto e = status_failure(head, r.value().body, where, "GET /models");
            if (e.code == "model_not_found") {  // a 404 here means a wrong base URL
                e = {"upstream_error",
                     where + " has no GET /models (HTTP 404): is the base URL right (usually it ends in /v1)?", false};
            }
            co_return e;
        }
        auto ids = openai::model_ids(r.value().body);
        if (!ids) {
            co_return error{"upstream_error",
                            where +
                                " sent an unexpected answer to GET /models (no data list); is this an "
                                "OpenAI-compatible server?",
                            false};
        }
        std::unordered_map<std::string, std::string> map;
        std::vector<std::string> names;
        for (auto& id : *ids) {
            auto n = normalize_model_name(id);
            if (map.emplace(n, id).second) {
                names.push_back(std::move(n));
            }
        }
        models_->replace(std::move(map));
        co_return names;
    }

    std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) override {
        if (!client_) {
            return failed_generation(ex_, config_error_, std::move(cb));
        }
        if (req.kind == request_kind::embed) {
            embedding_call call{"/embeddings",
                                openai::embed_request_body(req, models_->upstream_id(req.model)),
                                {},
                                openai::parse_embed_response,
                                [where = "OpenAI-compatible server at " + client_->url().text](
                                    const http_client::response_head& head, std::string_view body) {
                                    return status_failure(head, body, where, "POST /embeddings");
                                }};
            if (!auth_.empty()) {
                call.headers.emplace_back("Authorization", auth_);
            }
            auto g = std::make_shared<embedding_exchange>(client_, ex_, req.request_id, "openai",
                                                          "OpenAI-compatible server", std::move(call), std::move(cb));
            g->start();
            return g;
        }
        auto g = std::make_shared<openai_generation>(client_, auth_, ex_, req, models_->upstream_id(req.model),
                                                     std::move(cb));
        g->start();
        return g;
    }

private:
    net::any_io_executor ex_;
    std::shared_ptr<const client> client_;
    std::string auth_;
    std::shared_ptr<model_map> models_;
    error config_error_;
};

}  // namespace

std::unique_ptr<provider> make_openai_provider(const openai_config& cfg, net::any_io_executor ex) {
    return std::make_unique<openai_provider>(cfg, std::move(ex));
}

}  // namespace llmp::providers

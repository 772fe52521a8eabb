#include "providers/openai/openai_provider.hpp"

#include "common/logging.hpp"
#include "http/client.hpp"
#include "http/sse_reader.hpp"
#include "providers/openai/openai_wire.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <exception>
#include <mutex>
#include <unordered_map>

namespace llmp::providers {
namespace {

using http_client::client;
using http_client::outgoing_request;
namespace client_errc = http_client::client_errc;

constexpr std::size_t max_error_body = 64 * 1024;
constexpr std::size_t max_models_body = 16 * 1024 * 1024;
constexpr std::chrono::milliseconds drain_timeout{2000};

/// Client failures (connect, timeouts, closed streams) as provider errors.
error upstream_failure(const error& e) {
    if (e.code == client_errc::connect_failed || e.code == client_errc::connect_timeout) {
        return {"upstream_unavailable", e.message, true};
    }
    if (e.code == client_errc::idle_timeout) {
        return {"upstream_timeout", e.message, true};
    }
    if (e.code == client_errc::cancelled) {
        return {"cancelled", "generation cancelled", false};
    }
    if (e.code == client_errc::connection_closed) {
        return {"upstream_error", "the upstream closed the stream before it was done: " + e.message, true};
    }
    return {"upstream_error", e.message, e.retryable};
}

/// A non-200 answer as a provider error, with the upstream's own message.
error status_failure(const http_client::response_head& head, std::string_view body, const std::string& where,
                     std::string_view what) {
    std::string text = openai::error_text(body);
    if (text.empty()) {
        text = head.reason.empty() ? "no error message" : head.reason;
    }
    const std::string code = openai::error_code(body);
    const unsigned status = head.status;
    const std::string said = where + " answered HTTP " + std::to_string(status) + " to " + std::string{what} + ": " + text;
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
/// generations; written by models(), read by chat()/generate() on any thread.
class model_map {
public:
    void replace(std::unordered_map<std::string, std::string> m) {
        std::lock_guard lock{mu_};
        ids_ = std::move(m);
    }
    std::string upstream_id(const std::string& requested) const {
        std::lock_guard lock{mu_};
        auto it = ids_.find(normalize_model_name(requested));
        return it == ids_.end() ? requested : it->second;
    }

private:
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::string> ids_;  // GUARDED_BY(mu_)
};

class openai_generation : public generation, public std::enable_shared_from_this<openai_generation> {
public:
    openai_generation(std::shared_ptr<const client> c, std::string auth, net::any_io_executor ex,
                      const generation_request& req, const std::string& upstream_model, generation_callbacks cb)
        : client_{std::move(c)},
          auth_{std::move(auth)},
          strand_{net::make_strand(ex)},
          exchange_{client_->make_exchange(strand_)},
          request_id_{req.request_id},
          path_{req.kind == request_kind::chat ? "/chat/completions" : "/completions"},
          body_{openai::request_body(req, upstream_model)},
          cb_{std::move(cb)} {}

    void start() {
        auto self = shared_from_this();
        net::co_spawn(strand_, run(self), [self](std::exception_ptr e) {
            if (!e) {
                return;
            }
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                what = ex.what();
            }
            log::get("provider")->error("msg=\"openai generation failed\" request_id={} error=\"{}\"",
                                        self->request_id_, what);
            if (!self->finished_) {
                self->finish_error({"internal_error", "OpenAI provider failure: " + what, false});
            }
        });
    }

    void cancel() override {
        net::post(strand_, [self = shared_from_this()] {
            if (self->finished_ || self->cancel_requested_) {
                return;
            }
            self->cancel_requested_ = true;
            if (self->exchange_) {
                self->exchange_->cancel();
            }
        });
    }

private:
    static net::awaitable<void> run(std::shared_ptr<openai_generation> self) {
        co_await self->stream();
        self->exchange_.reset();  // closes the connection unless it went back to the pool
    }

    net::awaitable<void> stream() {
        outgoing_request req;
        req.method = http::verb::post;
        req.target = path_;
        req.body = std::move(body_);
        req.headers.emplace_back("Accept", "text/event-stream");
        if (!auth_.empty()) {
            req.headers.emplace_back("Authorization", auth_);
        }
        auto head = co_await exchange_->send(req);
        if (!head) {
            finish_error(upstream_failure(head.error()));
            co_return;
        }
        if (head.value().status != 200) {
            auto body = co_await exchange_->read_all(max_error_body);
            if (cancel_requested_) {
                finish_cancelled();
                co_return;
            }
            finish_error(status_failure(head.value(), body ? std::string_view{body.value()} : std::string_view{},
                                        where(), "POST " + path_));
            co_return;
        }
        for (;;) {
            // After [DONE] only the end of the body is missing; wait briefly for it so the
            // connection can go back to the pool.
            auto piece = co_await exchange_->read_some(done_seen_ ? std::optional{drain_timeout} : std::nullopt);
            if (done_seen_) {
                if (!piece || piece.value().empty()) {
                    finish_complete();
                    co_return;
                }
                continue;
            }
            if (cancel_requested_) {
                finish_cancelled();
                co_return;
            }
            if (!piece) {
                finish_error(upstream_failure(piece.error()));
                co_return;
            }
            if (piece.value().empty()) {  // end of body
                if (finish_seen_) {
                    finish_complete();  // no [DONE], but the answer was complete
                } else {
                    finish_error({"upstream_error",
                                  "the upstream closed the stream before it was done (" + where() +
                                      ", no finish_reason and no [DONE])",
                                  true});
                }
                co_return;
            }
            auto fed = reader_.feed(piece.value(), [this](const http_client::sse_event& e) {
                if (!finished_ && !done_seen_) {
                    handle_event(e.data);
                }
            });
            if (finished_) {
                co_return;  // an error event ended it
            }
            if (!fed) {
                finish_error({"upstream_error", fed.error().message, false});
                co_return;
            }
        }
    }

    void handle_event(std::string_view data) {
        if (cancel_requested_) {
            return;
        }
        if (data == "[DONE]") {
            done_seen_ = true;
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
        if (!c.delta.empty()) {
            ++deltas_;
            cb_.on_token(c.delta);
        }
        if (!c.finish_reason.empty()) {
            finish_seen_ = true;
            completion_.done_reason = c.finish_reason;
        }
        if (c.has_usage) {
            usage_ = std::move(c.usage);
            completion_.prompt_tokens = c.prompt_tokens;
            completion_.completion_tokens = c.completion_tokens;
        }
    }

    std::string where() const { return "OpenAI-compatible server at " + client_->url().text; }

    void finish_complete() {
        finished_ = true;
        if (usage_.is_null()) {
            completion_.prompt_tokens = 0;
            completion_.completion_tokens = deltas_;
            completion_.provider_metrics = nlohmann::json{{"usage", "estimated"}, {"chunks", deltas_}};
        } else {
            completion_.provider_metrics = nlohmann::json{{"usage", "upstream"}, {"upstream_usage", std::move(usage_)}};
        }
        cb_.on_complete(std::move(completion_));
    }

    void finish_cancelled() { finish_error({"cancelled", "generation cancelled", false}); }

    void finish_error(error e) {
        if (finished_) {
            return;
        }
        finished_ = true;
        if (e.code != "cancelled") {
            log::get("provider")->debug("msg=\"openai generation failed\" request_id={} code={} error=\"{}\"",
                                        request_id_, e.code, e.message);
        }
        cb_.on_error(std::move(e));
    }

    std::shared_ptr<const client> client_;
    std::string auth_;
    net::strand<net::any_io_executor> strand_;
    std::unique_ptr<http_client::exchange> exchange_;
    std::string request_id_;
    std::string path_;
    std::string body_;
    generation_callbacks cb_;
    http_client::sse_reader reader_;
    completion completion_;
    nlohmann::json usage_;
    std::int64_t deltas_ = 0;
    bool finish_seen_ = false;
    bool done_seen_ = false;
    bool cancel_requested_ = false;
    bool finished_ = false;
};

/// A generation that fails at once (the provider's configuration is unusable).
class failed_generation : public generation {
public:
    void cancel() override {}
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
        log::get("provider")->info("msg=\"openai upstream reachable\" url={} models={} api_key={}",
                                   client_->url().text, m.value().size(), auth_.empty() ? "none" : "set");
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
            co_return upstream_failure(r.error());
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
                            where + " sent an unexpected answer to GET /models (no data list); is this an "
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

    std::shared_ptr<generation> chat(const generation_request& req, generation_callbacks cb) override {
        return start(req, std::move(cb));
    }

    std::shared_ptr<generation> generate(const generation_request& req, generation_callbacks cb) override {
        return start(req, std::move(cb));
    }

private:
    std::shared_ptr<generation> start(const generation_request& req, generation_callbacks cb) {
        if (!client_) {
            net::post(net::make_strand(ex_), [cb = std::move(cb), e = config_error_]() mutable {
                cb.on_error(std::move(e));
            });
            return std::make_shared<failed_generation>();
        }
        auto g = std::make_shared<openai_generation>(client_, auth_, ex_, req, models_->upstream_id(req.model),
                                                     std::move(cb));
        g->start();
        return g;
    }

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

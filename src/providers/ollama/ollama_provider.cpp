#include "providers/ollama/ollama_provider.hpp"

#include "common/logging.hpp"
#include "http/client.hpp"
#include "http/ndjson_splitter.hpp"
#include "providers/ollama/ollama_wire.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <exception>

namespace llmp::providers {
namespace {

using http_client::client;
using http_client::outgoing_request;
namespace client_errc = http_client::client_errc;

constexpr std::size_t max_error_body = 64 * 1024;
constexpr std::size_t max_tags_body = 16 * 1024 * 1024;
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
        return {"upstream_error", "Ollama closed the stream before it was done: " + e.message, true};
    }
    return {"upstream_error", e.message, e.retryable};
}

/// A non-200 answer as a provider error, with Ollama's own text.
error status_failure(unsigned status, std::string_view reason, std::string_view body,
                     const std::string& where, std::string_view what) {
    std::string text = ollama::error_text(body);
    if (text.empty()) {
        text = reason.empty() ? "no error message" : std::string{reason};
    }
    if (status == 404) {
        return {"model_not_found", text + " (" + where + ")", false};
    }
    bool retryable = status >= 500 || status == 429 || status == 408;
    return {"upstream_error",
            where + " answered HTTP " + std::to_string(status) + " to " + std::string{what} + ": " +
                text,
            retryable};
}

class ollama_generation : public generation,
                          public std::enable_shared_from_this<ollama_generation> {
public:
    ollama_generation(std::shared_ptr<const client> c, net::any_io_executor ex,
                      const generation_request& req, generation_callbacks cb)
        : client_{std::move(c)},
          strand_{net::make_strand(ex)},
          exchange_{client_->make_exchange(strand_)},
          request_id_{req.request_id},
          path_{req.kind == request_kind::chat ? "/api/chat" : "/api/generate"},
          body_{ollama::request_body(req)},
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
            log::get("provider")->error("msg=\"ollama generation failed\" request_id={} error=\"{}\"",
                                        self->request_id_, what);
            if (!self->finished_) {
                self->finish_error({"internal_error", "Ollama provider failure: " + what, false});
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
    static net::awaitable<void> run(std::shared_ptr<ollama_generation> self) {
        co_await self->stream();
        self->exchange_.reset();  // closes the connection unless it went back to the pool
    }

    net::awaitable<void> stream() {
        outgoing_request req;
        req.method = http::verb::post;
        req.target = path_;
        req.body = std::move(body_);
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
            finish_error(status_failure(head.value().status, head.value().reason,
                                        body ? std::string_view{body.value()} : std::string_view{},
                                        where(), "POST " + path_));
            co_return;
        }
        for (;;) {
            // After done:true only the end of the body is missing (Ollama sends it at once);
            // wait briefly for it so the connection can go back to the pool.
            auto piece = co_await exchange_->read_some(
                done_seen_ ? std::optional{drain_timeout} : std::nullopt);
            if (done_seen_) {
                // Only draining the end of the body so the connection can be reused; the
                // generation is complete whatever happens now.
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
                if (splitter_.has_partial()) {
                    std::string last{splitter_.partial()};
                    splitter_.reset();
                    handle_line(last);
                }
                if (done_seen_) {
                    finish_complete();
                } else if (!finished_) {
                    finish_error({"upstream_error",
                                  "Ollama closed the stream before it was done (" + where() +
                                      ", no done:true line)",
                                  true});
                }
                co_return;
            }
            auto fed = splitter_.feed(piece.value(), [this](std::string_view line) {
                if (!finished_ && !done_seen_) {
                    handle_line(line);
                }
            });
            if (finished_) {
                co_return;  // an error line ended it
            }
            if (!fed) {
                finish_error({"upstream_error", fed.error().message, false});
                co_return;
            }
        }
    }

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
            finish_error({"upstream_error", "Ollama failed mid-stream: " + std::string{l.error},
                          true});
            return;
        }
        if (!l.delta.empty()) {
            ++deltas_;
            cb_.on_token(l.delta);
        }
        if (l.done) {
            done_seen_ = true;
            completion_.done_reason = l.done_reason.empty() ? "stop" : std::string{l.done_reason};
            completion_.prompt_tokens = l.prompt_eval_count.value_or(0);
            completion_.completion_tokens = l.eval_count.value_or(deltas_);
            completion_.provider_metrics = ollama::metrics_json(l);
        }
    }

    std::string where() const { return "Ollama at " + client_->url().text; }

    void finish_complete() {
        finished_ = true;
        cb_.on_complete(std::move(completion_));
    }

    void finish_cancelled() { finish_error({"cancelled", "generation cancelled", false}); }

    void finish_error(error e) {
        if (finished_) {
            return;
        }
        finished_ = true;
        if (e.code != "cancelled") {
            log::get("provider")->debug("msg=\"ollama generation failed\" request_id={} code={} error=\"{}\"",
                                        request_id_, e.code, e.message);
        }
        cb_.on_error(std::move(e));
    }

    std::shared_ptr<const client> client_;
    net::strand<net::any_io_executor> strand_;
    std::unique_ptr<http_client::exchange> exchange_;
    std::string request_id_;
    std::string path_;
    std::string body_;
    generation_callbacks cb_;
    http_client::ndjson_splitter splitter_;
    ollama::stream_parser parser_;
    completion completion_;
    std::int64_t deltas_ = 0;
    bool done_seen_ = false;
    bool cancel_requested_ = false;
    bool finished_ = false;
};

/// A generation that fails at once (the provider's configuration is unusable).
class failed_generation : public generation {
public:
    void cancel() override {}
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
        log::get("provider")->info("msg=\"ollama reachable\" url={} models={}", client_->url().text,
                                   m.value().size());
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
            co_return upstream_failure(r.error());
        }
        const std::string where = "Ollama at " + client_->url().text;
        if (r.value().status != 200) {
            co_return status_failure(r.value().status, {}, r.value().body, where, "GET /api/tags");
        }
        auto j = nlohmann::json::parse(r.value().body, nullptr, /*allow_exceptions=*/false);
        auto list = j.is_object() ? j.find("models") : j.end();
        if (!j.is_object() || list == j.end() || !list->is_array()) {
            co_return error{"upstream_error",
                            where + " sent an unexpected answer to GET /api/tags (no models list); "
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

    std::shared_ptr<generation> chat(const generation_request& req, generation_callbacks cb) override {
        return start(req, std::move(cb));
    }

    std::shared_ptr<generation> generate(const generation_request& req,
                                         generation_callbacks cb) override {
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
        auto g = std::make_shared<ollama_generation>(client_, ex_, req, std::move(cb));
        g->start();
        return g;
    }

    net::any_io_executor ex_;
    std::shared_ptr<const client> client_;
    error config_error_;
};

}  // namespace

std::unique_ptr<provider> make_ollama_provider(const ollama_config& cfg, net::any_io_executor ex) {
    return std::make_unique<ollama_provider>(cfg, std::move(ex));
}

}  // namespace llmp::providers

#include "providers/http_stream_generation.hpp"

#include "common/logging.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <exception>

namespace llmp::providers {
namespace {

namespace client_errc = http_client::client_errc;

constexpr std::size_t max_error_body = 64 * 1024;
constexpr std::chrono::milliseconds drain_timeout{2000};

/// Nothing runs, so there is nothing to stop: its one callback is already posted.
class already_failed final : public generation {
public:
    void cancel() override {}
};

}  // namespace

error upstream_failure(const error& e, std::string_view peer) {
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
        return {"upstream_error", std::string{peer} + " closed the stream before it was done: " + e.message, true};
    }
    return {"upstream_error", e.message, e.retryable};
}

std::shared_ptr<generation> failed_generation(const net::any_io_executor& ex, error e, generation_callbacks cb) {
    net::post(net::make_strand(ex), [cb = std::move(cb), e = std::move(e)]() mutable { cb.on_error(std::move(e)); });
    return std::make_shared<already_failed>();
}

http_stream_generation::http_stream_generation(std::shared_ptr<const http_client::client> c, net::any_io_executor ex,
                                               std::string request_id, std::string provider, std::string peer,
                                               generation_callbacks cb)
    : client_{std::move(c)},
      request_id_{std::move(request_id)},
      provider_{std::move(provider)},
      peer_{std::move(peer)},
      strand_{net::make_strand(ex)},
      exchange_{client_->make_exchange(strand_)},
      cb_{std::move(cb)} {}

void http_stream_generation::start() {
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
        log::get("provider")
            ->error("msg=\"{} generation failed\" request_id={} error=\"{}\"", self->provider_, self->request_id_,
                    what);
        if (!self->finished_) {
            self->finish_error({"internal_error", self->peer_ + " provider failure: " + what, false});
        }
    });
}

void http_stream_generation::cancel() {
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

net::awaitable<void> http_stream_generation::run(std::shared_ptr<http_stream_generation> self) {
    co_await self->stream();
    self->exchange_.reset();  // closes the connection unless it went back to the pool
}

net::awaitable<void> http_stream_generation::stream() {
    const auto req = make_request();
    auto head = co_await exchange_->send(req);
    if (!head) {
        finish_error(upstream_failure(head.error(), peer_));
        co_return;
    }
    if (head.value().status != 200) {
        auto body = co_await exchange_->read_all(max_error_body);
        if (cancel_requested_) {
            finish_cancelled();
            co_return;
        }
        std::string_view text;
        if (body) {
            text = body.value();
        }
        finish_error(status_error(head.value(), text));
        co_return;
    }
    for (;;) {
        // After the end marker only the end of the body is missing (upstreams send it at once);
        // wait briefly for it so the connection can go back to the pool.
        std::optional<std::chrono::milliseconds> limit;
        if (end_seen_) {
            limit = drain_timeout;
        }
        auto piece = co_await exchange_->read_some(limit);
        if (end_seen_) {
            // Only draining: the generation is complete whatever happens now.
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
            finish_error(upstream_failure(piece.error(), peer_));
            co_return;
        }
        if (piece.value().empty()) {  // end of body
            body_ended();
            co_return;
        }
        auto fed = feed(piece.value());
        if (finished_) {
            co_return;  // an error the upstream sent ended it
        }
        if (!fed) {
            finish_error({"upstream_error", fed.error().message, false});
            co_return;
        }
    }
}

std::string http_stream_generation::where() const {
    return peer_ + " at " + client_->url().text;
}

void http_stream_generation::emit_token(std::string_view delta) {
    ++deltas_;
    cb_.on_token(delta);
}

void http_stream_generation::emit_choice_token(int index, std::string_view delta) {
    ++deltas_;
    cb_.on_choice_token(index, delta);
}

void http_stream_generation::finish_complete() {
    if (finished_) {
        return;
    }
    finished_ = true;
    cb_.on_complete(take_completion());
}

void http_stream_generation::finish_cancelled() {
    finish_error({"cancelled", "generation cancelled", false});
}

void http_stream_generation::finish_error(error e) {
    if (finished_) {
        return;
    }
    finished_ = true;
    if (e.code != "cancelled") {
        log::get("provider")
            ->debug("msg=\"{} generation failed\" request_id={} code={} error=\"{}\"", provider_, request_id_, e.code,
                    e.message);
    }
    cb_.on_error(std::move(e));
}

}  // namespace llmp::providers

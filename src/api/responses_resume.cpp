#include "api/responses_resume.hpp"

#include "api/background_bindings.hpp"
#include "api/http_client_connection.hpp"
#include "api/logger.hpp"
#include "api/response_sink.hpp"
#include "api/responses_renderer.hpp"
#include "api/responses_store.hpp"
#include "api/resume_merge.hpp"
#include "common/errc.hpp"
#include "http/chunked_response.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <optional>
#include <variant>

namespace llmp::api {
namespace {

using clock = std::chrono::steady_clock;

/// How often the store is read again while chunks may be missing (the audit's batch lag).
constexpr auto store_poll = std::chrono::milliseconds{25};
/// How long the store may take to catch up before the stream gives up.
constexpr auto store_catch_up = std::chrono::seconds{10};
/// With nothing live for this long, the store is asked whether the generation ended (its end
/// may have gone by before the binding, or with a broker connection).
constexpr auto idle_store_check = std::chrono::seconds{1};
/// How long the consumer thread may take to bind.
constexpr auto bind_timeout = std::chrono::seconds{5};

/// The end of a stored outcome, as the worker sent it.
std::variant<final_message, error_message> end_of(const response_outcome& o) {
    if (o.status == "completed" || o.status == "incomplete") {
        final_message f;
        f.done_reason = o.status == "incomplete" ? "length" : "stop";
        f.text = o.text;
        f.tool_calls = o.tool_calls;
        f.prompt_tokens = o.input_tokens;
        f.completion_tokens = o.output_tokens;
        return f;
    }
    if (o.status == "cancelled") {
        return error_message{"cancelled", "the response was cancelled"};
    }
    return error_message{o.error_code.empty() ? "server_error" : o.error_code, o.error_message};
}

class resumed_stream {
public:
    resumed_stream(context& ctx, http_server::request_context& rc, responses_store& store, stored_response s,
                   resume_view v)
        : ctx_{ctx},
          client_{rc},
          store_{store},
          s_{std::move(s)},
          after_{v.after},
          kind_{v.kind},
          numbering_{v.numbering},
          renderer_{std::move(v.renderer)} {
        m_.request_id = s_.head.request_id;
        m_.model = s_.head.model;
        m_.received_at_ms = s_.head.created_at * 1000;
    }

    ~resumed_stream() {
        if (sink_) {
            client_.stop_watching();
            ctx_.streams.remove(m_.request_id);
            --ctx_.stats.streams_open;
        }
        if (bound_) {
            ctx_.bindings->unbind(m_.request_id);
        }
    }

    net::awaitable<void> run() {
        if (!s_.finished()) {
            auto refusal = co_await bind();
            if (refusal) {
                auto res = renderer_->failure(*refusal);
                co_await client_.send(std::move(res));
                co_return;
            }
            // Read again now that the binding is in place: an end stored before it was bound
            // never comes live.
            auto again = co_await store_.load(m_.request_id, kind_);
            if (!again || !again.value()) {
                auto res = renderer_->failure(again ? make_error(errc::internal_error, "the response vanished")
                                                    : again.error());
                co_await client_.send(std::move(res));
                co_return;
            }
            s_.outcome = again.value()->outcome;
        }
        auto headers = http_server::sse_headers();
        headers.emplace_back("X-Request-Id", m_.request_id);
        if (co_await client_.start_stream("text/event-stream", headers)) {
            co_return;
        }
        if (sink_) {
            client_.watch([weak = std::weak_ptr<response_sink>{sink_}] {
                if (auto s = weak.lock()) {
                    s->mark_client_gone();
                }
            });
        }
        renderer_->start(rendered_, m_);
        bool read = co_await read_store();
        if (read && s_.finished()) {
            end_with(end_of(s_.outcome));
        } else if (read) {
            co_await follow();
        }
        if (gone_) {
            co_return;
        }
        flush();
        if (!buf_.empty()) {
            if (co_await client_.write(buf_)) {
                co_return;
            }
        }
        co_await client_.finish();
    }

private:
    /// Registers the sink and binds `bg.<id>.#`; the client's error when that cannot be done.
    net::awaitable<std::optional<llmp::error>> bind() {
        if (ctx_.bindings == nullptr) {
            co_return make_error(errc::broker_unavailable, "this server cannot follow background responses");
        }
        if (ctx_.streams.find(m_.request_id)) {
            co_return make_error(errc::overloaded, "this response is being streamed on this server already; retry");
        }
        auto ex = co_await net::this_coro::executor;
        sink_ = std::make_shared<response_sink>(ex, ctx_.cfg.max_stream_buffer);
        ctx_.streams.add(m_.request_id, sink_);
        ++ctx_.stats.streams_open;
        bound_ = true;
        ctx_.bindings->bind(m_.request_id, [weak = std::weak_ptr<response_sink>{sink_}] {
            if (auto s = weak.lock()) {
                s->deliver(publish_outcome::confirmed);  // the bind's answer comes as a publish's
            }
        });
        auto done = co_await sink_->wait_published(clock::now() + bind_timeout);
        if (!done) {
            co_return make_error(errc::broker_unavailable, "could not follow the response on the message broker");
        }
        co_return std::nullopt;
    }

    /// Takes what the store has (the chunks, and the end when it is stored); false when the
    /// store could not answer (the stream ends with an error event).
    net::awaitable<bool> read_store() {
        auto chunks = co_await store_.load_chunks(m_.request_id);
        if (!chunks) {
            end_with(error_message{chunks.error().code, chunks.error().message});
            co_return false;
        }
        merge_.take_stored(chunks.value(), ready_);
        render_ready();
        co_return true;
    }

    /// The stored response again: its end, once stored. False when the store could not answer.
    net::awaitable<bool> reload_outcome() {
        auto again = co_await store_.load(m_.request_id, kind_);
        if (!again || !again.value()) {
            end_with(error_message{"db_error", "the stored response could not be read"});
            co_return false;
        }
        s_.outcome = again.value()->outcome;
        co_return true;
    }

    /// The live part: chunks as they come, placed by resume_merge, until the end.
    net::awaitable<void> follow() {
        const auto& t = ctx_.cfg.relay;
        const auto give_up = clock::now() + ctx_.cfg.max_request_timeout;
        auto last_event = clock::now();
        auto last_write = clock::now();
        std::optional<std::variant<final_message, error_message>> live_end;
        std::optional<clock::time_point> catching_up_since;
        for (;;) {
            auto& evs = sink_->events();
            std::size_t drained = 0;
            while (!evs.empty()) {
                auto ev = std::move(evs.front());
                evs.pop_front();
                last_event = clock::now();
                if (auto* c = std::get_if<chunk_event>(&ev)) {
                    drained += c->text.size();
                    merge_.live(stored_chunk{c->seq, std::move(c->text)});
                } else if (auto* f = std::get_if<final_message>(&ev)) {
                    live_end = std::move(*f);
                } else if (auto* e = std::get_if<error_message>(&ev)) {
                    live_end = std::move(*e);
                }
            }
            sink_->consumed(drained);
            merge_.take_live(ready_);
            render_ready();
            if (sink_->client_gone() || sink_->overflowed()) {
                api::logger()->info("msg=\"resumed stream left\" request_id={} (the generation goes on)",
                                    m_.request_id);
                client_.close();
                gone_ = true;
                co_return;
            }
            // The end, once every chunk before it is placed: at once when the live run joined
            // the stored one; else when the store has the end too (it stores chunks first).
            if (live_end && merge_.joined() && !merge_.needs_store()) {
                end_with(std::move(*live_end));
                co_return;
            }
            const bool store_behind = merge_.needs_store() || live_end;
            if (store_behind && !catching_up_since) {
                catching_up_since = clock::now();
            }
            if (!store_behind) {
                catching_up_since.reset();
            }
            auto now = clock::now();
            if (store_behind || now - last_event >= idle_store_check) {
                if (catching_up_since && now - *catching_up_since > store_catch_up) {
                    end_with(error_message{"timeout", "the audit store did not catch up with the response"});
                    co_return;
                }
                if (!store_behind) {
                    last_event = now;  // idle: look once a second
                }
                bool reloaded = co_await reload_outcome();
                if (!reloaded) {
                    co_return;
                }
                bool read = co_await read_store();
                if (!read) {
                    co_return;
                }
                merge_.take_live(ready_);
                render_ready();
                if (s_.finished()) {
                    // Everything is stored: the live end, if it came, is the more exact.
                    end_with(live_end ? std::move(*live_end) : end_of(s_.outcome));
                    co_return;
                }
            }
            flush();
            if (!buf_.empty()) {
                if (co_await client_.write(buf_)) {
                    gone_ = true;  // the generation goes on
                    co_return;
                }
                buf_.clear();
                last_write = clock::now();
            }
            now = clock::now();
            if (now >= give_up) {
                end_with(error_message{"timeout", "the response did not end within the longest request time"});
                co_return;
            }
            if (now - last_write >= t.keepalive_interval) {
                buf_.append(": keepalive\n\n");
                continue;
            }
            auto wake = store_behind
                            ? now + store_poll
                            : std::min({give_up, last_event + idle_store_check, last_write + t.keepalive_interval});
            co_await sink_->wait(wake);
        }
    }

    void render_ready() {
        for (const auto& c : ready_) {
            renderer_->token(rendered_, c.text, c.seq);
        }
        ready_.clear();
    }

    void end_with(std::variant<final_message, error_message> end) {
        if (auto* f = std::get_if<final_message>(&end)) {
            if (f->model.empty()) {
                f->model = m_.model;  // a stored end carries none
            }
            renderer_->done(rendered_, *f, relay_timings{m_.request_id, 0, 0});
        } else {
            renderer_->error(rendered_, std::get<error_message>(end));
        }
    }

    /// The rendered events after `after_` into the write buffer.
    void flush() {
        if (numbering_ == event_numbering::by_position) {
            render_events_after(rendered_, next_index_, after_, buf_);
        } else {
            render_events_with_id_after(rendered_, after_, buf_);
        }
        rendered_.clear();
    }

    context& ctx_;
    http_client_connection client_;
    responses_store& store_;
    stored_response s_;
    const std::int64_t after_;
    const stored_request_kind kind_;
    const event_numbering numbering_;
    std::unique_ptr<stream_renderer> renderer_;
    request_message m_;
    std::shared_ptr<response_sink> sink_;
    bool bound_ = false;
    bool gone_ = false;  ///< the client left (or could not be written to): nothing more is sent
    resume_merge merge_;
    std::vector<stored_chunk> ready_;
    std::string rendered_;  ///< rendered from seq 1, not yet filtered
    std::string buf_;       ///< to write: the events after starting_after
    std::int64_t next_index_ = 0;
};

}  // namespace

net::awaitable<void> stream_resumed_generation(context& ctx, http_server::request_context& rc, responses_store& store,
                                               stored_response s, resume_view v) {
    resumed_stream r{ctx, rc, store, std::move(s), std::move(v)};
    co_await r.run();
}

net::awaitable<void> stream_background_response(context& ctx, http_server::request_context& rc, responses_store& store,
                                                stored_response s, std::int64_t starting_after) {
    resume_view v;
    responses_reply_options o;
    o.stream = true;
    o.model = s.head.model;
    o.echo = s.head.echo;
    v.renderer = make_responses_renderer(std::move(o));
    v.after = starting_after;
    co_await stream_resumed_generation(ctx, rc, store, std::move(s), std::move(v));
}

}  // namespace llmp::api

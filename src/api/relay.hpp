#pragma once
// relay: the part of every generation route that does not depend on the API flavour, one object
// per request, in four steps on the request's connection strand:
//   admit    the API key (api/auth.hpp), the client's numbers (deadline, priority), broker up,
//            model served, stream cap; then the request id and deadline, and last the key's
//            limits (limits/limiter.hpp; counted only for a request nothing else refused)
//                                                        -> 401 / 403 / 400 / 503 / 404 / 429
//   publish  register a response_sink under the id, publish the request and await the broker's
//            answer                                      -> 503 queue_full / broker_unavailable
//   pump     relay the worker's events through the renderer until the final message, an error,
//            the deadline, the idle timeout, worker loss, a client that leaves or cannot keep up,
//            or shutdown
//   finish   the key's stream released and its tokens charged, the closing event (or the one
//            JSON reply), metrics and the log line
// When this server ends a stream (client gone or too slow, deadline, worker lost, shutdown) it
// publishes a cancel, so the worker stops generating and frees the GPU, and a verdict, so the
// audit stores what the client was told; when the worker's own outcome (final or error) was
// written to the client, it confirms the delivery to the audit instead (request_publisher). The table of outcomes is docs/architecture.md's
// "Relay outcomes" and relay_test.cpp, one test per row.
//
// It reaches the broker only through request_publisher and the client only through
// client_connection, so relay_test drives it with fakes: no broker, no sockets.

#include "api/api_metrics.hpp"
#include "api/client_connection.hpp"
#include "api/context.hpp"
#include "api/fair_share.hpp"
#include "api/stream_renderer.hpp"
#include "http/server.hpp"
#include "keys/api_key.hpp"
#include "limits/limiter.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace llmp::api {

class response_sink;

/// A background generation (POST /v1/responses with background): admitted and published as
/// any, under the reserved server id broker::background_server_id(request id), so its chunks
/// reach no server unless one binds them; once the broker confirmed it, the client gets
/// `reply(request)` at once and the relay ends. Nothing cancels it but an explicit cancel. The
/// key's stream slot is released then, and no tokens are charged to it (this server never sees
/// them).
struct background_relay {
    std::function<http_server::response(const request_message&)> reply;
};

/// A resumable stream (the native routes' `"resumable": true`): published under the background
/// server id like a background one, but streamed to its client as usual; this server binds
/// `bg.<id>.#` to its own response queue before publishing (no chunk comes before the binding),
/// and a client that hangs up cancels nothing: the generation runs on and is resumed on any
/// server (GET /api/streams/{id}). Needs ctx.bindings (503 without).
enum class stream_resumability { plain, resumable };

class relay {
public:
    /// `m` comes validated from the flavour's parser (model, messages/prompt, options, stream).
    relay(context& ctx, client_connection& client, stream_renderer& out, client_request req, request_message m,
          std::optional<background_relay> background = std::nullopt,
          stream_resumability resumability = stream_resumability::plain);
    /// Unregisters the stream and records its metrics, however the relay ended.
    ~relay();
    relay(const relay&) = delete;
    relay& operator=(const relay&) = delete;

    net::awaitable<void> run();

    /// The request's id once admitted (empty before).
    const std::string& request_id() const { return m_.request_id; }

private:
    using clock = std::chrono::steady_clock;
    enum class ending { none, completed, failed, client_gone };

    net::awaitable<bool> admit();
    net::awaitable<bool> publish();
    /// resumable_: binds `bg.<id>.#` to this server's queue and awaits the binding; the
    /// client's error when it cannot be done.
    net::awaitable<std::optional<llmp::error>> bind_resumable();
    net::awaitable<bool> start_stream();
    net::awaitable<void> pump();
    net::awaitable<void> finish();
    /// background_: the queued reply, and the end.
    net::awaitable<void> answer_queued();

    /// Moves the sink's queued events into the stream (or the reply's text); true if any came.
    bool take_events();
    void take_chunk(chunk_event& c);
    /// This server ends the stream with `why` (cancel and verdict follow in finish()).
    void fail_here(error_message why);
    /// The deadline, the idle timeout and the serving worker's liveness, at `now`.
    std::optional<error_message> check_time(clock::time_point now, clock::time_point last_event) const;
    /// fail_here() with check_time()'s answer, if any; true then. Not inline in pump(): its
    /// error_message would sit in the coroutine's frame for the whole stream.
    bool fail_if_late(clock::time_point now, clock::time_point last_event);
    /// For a stream that started on its first chunk before the broker's confirm: fail_here()
    /// with the broker's late refusal (a nack: the audit's copy of the request was refused), or
    /// with broker_unavailable once the confirm's deadline passed; true then. Clears
    /// unconfirmed_until_ on the confirm.
    bool fail_if_refused_late(clock::time_point now);
    /// The worker's final waits at the head of the sink until the confirm (see unconfirmed_until_).
    bool holding_final();
    /// The stream started on its worker's first chunk and the broker has not confirmed yet.
    bool awaiting_confirm() const { return unconfirmed_until_ != clock::time_point{}; }
    /// The request's metrics, once (finish() before its last write; else the destructor).
    void record_metrics();
    /// The first token came: the request leaves the model's waiting count.
    void stop_waiting();
    /// Cancel + verdict: this server ended the stream and the client was told `told`.
    void ended_here(const error_message& told);
    /// Why the request cannot be queued (400, 503, 404), or nothing; sets the deadline and priority.
    std::optional<llmp::error> admission_refusal();
    void take_fair_share();
    /// The broker's answer as the client's error, or nothing when it confirmed.
    std::optional<llmp::error> publish_refusal(std::optional<publish_outcome> outcome);
    /// The key's limits, once admitted: releases its stream and charges its tokens (finish(),
    /// else the destructor).
    void settle_limits();
    /// A whole error reply (before streaming, or a non-streamed request's failure).
    http_server::response error_reply(const llmp::error& e, bool with_id);

    context& ctx_;
    client_connection& client_;
    stream_renderer& out_;
    const client_request req_;
    request_message m_;
    std::optional<background_relay> background_;
    const bool resumable_;
    bool bound_ = false;  ///< resumable_: `bg.<id>.#` bound for this stream (unbound by the destructor)
    const clock::time_point t0_ = clock::now();
    clock::time_point deadline_ = clock::time_point::max();
    std::int64_t timeout_ms_ = 0;
    fair_share::ticket share_;  ///< this stream counted against its key while the relay lives
    std::shared_ptr<response_sink> sink_;
    bool streaming_ = false;

    // The API key (auth keys) and its limits.
    std::shared_ptr<const keys::usable_key> key_;
    std::optional<limits::limit_decision> limit_;  ///< admitted and counted by the limiter
    limits::header_list limit_headers_;            ///< x-ratelimit-*, on every reply
    bool limit_settled_ = false;

    // What was relayed.
    std::string buf_;   ///< rendered, not yet written
    std::string text_;  ///< the whole answer, for non-streamed replies
    std::string serving_worker_;
    std::int64_t last_seq_ = 0;
    std::int64_t relayed_ = 0;  ///< chunks relayed
    std::int64_t tokens_sent_ = 0;
    double ttft_ms_ = -1;
    model_metrics* model_ = nullptr;  ///< the served model's metrics, once queued
    bool waiting_ = true;             ///< queued, no token yet (counted in model_->waiting)
    clock::time_point published_at_;  ///< handed to the publisher (the model's TTFT counts from here)
    /// The confirm's deadline while a stream that started on its worker's first chunk still
    /// waits for the broker's confirm; the epoch (zero) once confirmed. The stream relays tokens
    /// meanwhile but does not end with the worker's answer before it: a nack means the audit's
    /// copy of the request was refused, and no client is served an answer the audit lacks.
    clock::time_point unconfirmed_until_{};

    // How it ended.
    ending end_ = ending::none;
    // On the heap, made when the stream ends: ~600 bytes a relay would otherwise carry for as
    // long as the stream is open (issue 13, item 5).
    std::unique_ptr<final_message> done_;
    std::unique_ptr<error_message> failure_;
    bool ended_here_ = false;  ///< this server, not the worker, ended it: cancel + verdict
    bool metrics_recorded_ = false;
    relay_outcome outcome_ = relay_outcome::rejected;  ///< rejected until the request is queued
};

/// The route handlers' entry: a relay over `rc`'s connection. `m` is taken by reference (the
/// caller's frame outlives the call) and moved from: a by-value parameter would be one more
/// copy of the request in the caller's coroutine frame and one in this one, for the whole
/// stream (issue 13, item 5: memory per open stream).
net::awaitable<void> relay_generation(context& ctx, http_server::request_context& rc, request_message&& m,
                                      stream_renderer& out, std::optional<background_relay> background = std::nullopt,
                                      stream_resumability resumability = stream_resumability::plain);

}  // namespace llmp::api

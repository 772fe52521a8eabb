#include "api/relay.hpp"

#include "api/api_metrics.hpp"
#include "api/auth.hpp"
#include "api/background_bindings.hpp"
#include "api/http_client_connection.hpp"
#include "api/logger.hpp"
#include "api/request_publisher.hpp"
#include "api/request_timeout.hpp"
#include "api/response_sink.hpp"
#include "broker/background_keys.hpp"
#include "common/clock.hpp"
#include "common/errc.hpp"
#include "common/ids.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace llmp::api {
namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) {
            out += ", ";
        }
        out += s;
    }
    return out;
}

std::optional<std::string_view> view(const std::optional<std::string>& s) {
    return s ? std::optional<std::string_view>{*s} : std::nullopt;
}

const error_message client_went_away{"cancelled", "the client went away"};

error_message client_too_slow(const std::string& request_id, std::string_view why) {
    api::logger()->warn("msg=\"client too slow, stream cut\" request_id={} reason=\"{}\"", request_id, why);
    return {"client_too_slow", "the client did not read the stream fast enough"};
}

}  // namespace

relay::relay(context& ctx, client_connection& client, stream_renderer& out, client_request req, request_message m,
             std::optional<background_relay> background, stream_resumability resumability)
    : ctx_{ctx},
      client_{client},
      out_{out},
      req_{std::move(req)},
      m_{std::move(m)},
      background_{std::move(background)},
      resumable_{resumability == stream_resumability::resumable} {}

relay::~relay() {
    if (bound_) {
        ctx_.bindings->unbind(m_.request_id);
    }
    if (sink_) {
        sink_->on_overflow({});  // the hook refers to client_, which may go before the sink
        ctx_.streams.remove(m_.request_id);
        --ctx_.stats.streams_open;
    }
    record_metrics();  // a relay destroyed mid-way (the connection or the server went) counts too
    settle_limits();
}

void relay::settle_limits() {
    if (!limit_ || limit_settled_) {
        return;
    }
    limit_settled_ = true;
    // Prompt + completion from the final message; without one, what was relayed.
    const std::int64_t tokens = done_ ? done_->prompt_tokens + done_->completion_tokens : tokens_sent_;
    ctx_.limiter->finish(*limit_, key_->id, m_.request_id, tokens);
}

// Before the last bytes go out: a client that reads /metrics right after its reply finds its
// request counted.
void relay::record_metrics() {
    if (metrics_recorded_) {
        return;
    }
    metrics_recorded_ = true;
    if (m_.kind == request_kind::embed) {
        // Not a generation: its own counts (api_metrics.hpp), once it was queued for a model.
        if (model_ != nullptr) {
            if (waiting_) {
                waiting_ = false;
                model_->waiting.dec();
            }
            auto inputs = m_.input.is_array() ? static_cast<std::int64_t>(m_.input.size()) : 0;
            ctx_.metrics->embedding_ended(normalize_model_name(m_.model), outcome_, inputs,
                                          done_ ? done_->prompt_tokens : 0);
        }
        return;
    }
    ctx_.metrics->relay_ended(req_.route, outcome_, tokens_sent_, ttft_ms_ < 0 ? -1.0 : ttft_ms_ / 1000.0);
    if (model_ != nullptr) {
        if (waiting_) {
            waiting_ = false;
            model_->waiting.dec();
        }
        model_->generations.inc();
        if (tokens_sent_ > 0) {
            model_->tokens.inc(static_cast<std::uint64_t>(tokens_sent_));
        }
    }
}

void relay::stop_waiting() {
    if (model_ != nullptr && waiting_) {
        waiting_ = false;
        model_->waiting.dec();
        model_->ttft.observe(std::chrono::duration<double>(clock::now() - published_at_).count());
    }
}

net::awaitable<void> relay::run() {
    // Each step's answer in its own variable (see admit(): GCC 12 and co_await expressions).
    bool admitted = co_await admit();
    if (!admitted) {
        co_return;
    }
    bool published = co_await publish();
    if (!published) {
        co_return;
    }
    if (background_) {
        co_await answer_queued();
        co_return;
    }
    bool streaming = co_await start_stream();
    if (!streaming) {
        co_return;
    }
    co_await pump();
    co_await finish();
}

http_server::response relay::error_reply(const llmp::error& e, bool with_id) {
    auto res = out_.failure(e);
    for (const auto& [name, value] : limit_headers_) {
        res.set(name, value);
    }
    if (with_id) {
        res.set("X-Request-Id", m_.request_id);
    }
    return res;
}

// GCC 12 destroys some temporaries of a co_await full-expression twice (or loses the frame's
// resume index): each step decides in plain code and co_awaits only named values.
net::awaitable<bool> relay::admit() {
    if (auto refusal = admission_refusal()) {
        auto res = error_reply(*refusal, false);
        record_metrics();
        co_await client_.send(std::move(res));
        co_return false;
    }
    take_fair_share();
    m_.request_id = new_uuid();
    m_.server_id = background_ || resumable_ ? broker::background_server_id(m_.request_id) : ctx_.server_id;
    m_.received_at_ms = unix_ms();
    m_.deadline_ms = timeout_ms_ > 0 ? m_.received_at_ms + timeout_ms_ : 0;
    m_.route = req_.route;
    m_.client_addr = req_.remote_addr;
    m_.user_agent = req_.user_agent;
    if (timeout_ms_ > 0) {
        deadline_ = t0_ + std::chrono::milliseconds{timeout_ms_};
    }
    if (key_ && ctx_.limiter != nullptr && key_->limits.counted()) {
        // A stream in flight counts until the request's deadline at most (a server that dies
        // leaves nothing counted beyond that).
        const std::int64_t lease_until =
            m_.deadline_ms > 0 ? m_.deadline_ms : m_.received_at_ms + ctx_.cfg.max_request_timeout.count();
        // Named awaitable, no temporaries in the co_await expression (GCC 12, see above).
        auto admission = ctx_.limiter->async_admit(*key_, std::string{m_.request_id}, lease_until, net::use_awaitable);
        limits::limit_decision d = co_await std::move(admission);
        limit_headers_ = limits::rate_headers(key_->limits, d.now, d.w);
        if (d.refused != limits::limit_kind::none) {
            auto res = error_reply(make_error(errc::rate_limit_exceeded,
                                              limits::refusal_message(key_->name, d.refused, key_->limits, d.w)),
                                   false);
            res.set(http::field::retry_after, std::to_string(limits::retry_after_s(d.refused, d.w)));
            record_metrics();
            co_await client_.send(std::move(res));
            co_return false;
        }
        limit_ = d;
    }
    co_return true;
}

// Counts this stream against its key and, when the key is below its fair share, queues it one
// priority level higher (api/fair_share.hpp).
// The key is the one admission found (key_): not hashed and looked up again. The lift comes
// after the key's priority ceiling: the ceiling bounds what its client may ask for, the lift is
// this server's scheduling against a flood.
void relay::take_fair_share() {
    if (!key_ || !ctx_.cfg.fair_share) {
        return;
    }
    share_ = ctx_.shares.open(key_->id);
    if (share_.lifted()) {
        m_.priority = fair_share::lifted_priority(m_.priority, ctx_.cfg.broker.max_priority);
    }
}

// Who asks first (401/403), then the client's numbers: a 400 does not depend on the broker or
// the model.
std::optional<llmp::error> relay::admission_refusal() {
    // An alias is resolved once, here, before anything looks at the model: the key's allowed
    // models, the worker check and the routing key all see the served model (an alias never
    // changes what a key may use); the client's name stays in model_alias for the replies and
    // the audit.
    if (const auto* target = ctx_.cfg.aliases.target_of(m_.model)) {
        m_.model_alias = std::move(m_.model);
        m_.model = *target;
    }
    if (ctx_.keys != nullptr) {
        key_ = req_.key;
        if (!key_) {  // no route wrapper found it (relay_test): look it up here
            auto found = authenticate(*ctx_.keys, view(req_.authorization), view(req_.x_api_key));
            if (!found) {
                return found.error();
            }
            key_ = std::move(found.value());
        }
        if (auto refused = model_refusal(*key_, m_.model)) {
            return refused;
        }
        // The audit records which key (id and name, never the key) every request came with.
        m_.key_id = key_->id;
        m_.key_name = key_->name;
    }
    auto timeout = request_timeout_ms(m_.timeout_ms, view(req_.timeout_header), ctx_.cfg.request_timeout.count(),
                                      ctx_.cfg.max_request_timeout.count());
    auto priority = header_priority(view(req_.priority_header));
    if (!timeout || !priority) {
        return !timeout ? timeout.error() : priority.error();
    }
    timeout_ms_ = timeout.value();
    m_.priority = priority.value().value_or(m_.priority);
    if (key_ && key_->limits.priority_ceiling) {
        m_.priority = std::min(m_.priority, *key_->limits.priority_ceiling);
    }

    // Broker down: say so (the worker registry empties after missed heartbeats, which would
    // otherwise read as "no workers").
    if (!ctx_.publisher->connected()) {
        return llmp::error{"broker_unavailable", "the message broker is unavailable; retry later", true};
    }
    if (!ctx_.workers.serves(m_.model)) {
        auto served = ctx_.workers.models();
        if (served.empty()) {
            return llmp::error{"no_workers", "no worker is serving any model right now; retry shortly", true};
        }
        const auto asked =
            m_.model_alias.empty() ? "'" + m_.model + "'" : "'" + m_.model_alias + "' (alias of '" + m_.model + "')";
        return llmp::error{"model_not_found",
                           "model " + asked + " is not served by any live worker (served: " + join(served) + ")"};
    }
    if (ctx_.cfg.max_streams > 0 && ctx_.stats.streams_open.load() >= ctx_.cfg.max_streams) {
        return llmp::error{"overloaded", "this server has too many open streams; retry shortly", true};
    }
    return std::nullopt;
}

net::awaitable<bool> relay::publish() {
    auto ex = co_await net::this_coro::executor;
    sink_ = std::make_shared<response_sink>(ex, ctx_.cfg.max_stream_buffer);
    ctx_.streams.add(m_.request_id, sink_);
    ++ctx_.stats.streams_open;

    std::optional<llmp::error> refusal;
    if (resumable_) {
        // Bound before the request is published: its first chunk finds the binding in place.
        auto unbound = co_await bind_resumable();  // named: g++ 12 and co_await
        refusal = std::move(unbound);
    }
    std::weak_ptr<response_sink> weak = sink_;
    // The model's time to first token counts from here: a stream that starts on its worker's
    // first chunk ends its wait for the confirm at that chunk, so a later clock would read ~0.
    published_at_ = clock::now();
    if (!refusal && !ctx_.publisher->publish_request(m_, timeout_ms_, [weak](publish_outcome o) {
            if (auto s = weak.lock()) {
                s->deliver(o);
            }
        })) {
        ctx_.metrics->publish_failed(publish_failure::overloaded);
        refusal = llmp::error{"overloaded", "too many requests are waiting to be queued; retry shortly", true};
    } else if (!refusal) {
        const auto confirm_by = clock::now() + ctx_.cfg.relay.publish_confirm_timeout;
        // A stream starts at its worker's first chunk if that comes before the broker's confirm
        // (issue 13: the confirm of a persistent message waits for the broker's disk write). A
        // background request's client is told it is queued, so it waits for the confirm itself.
        auto outcome = co_await sink_->wait_published(confirm_by, !background_);
        if (outcome && !sink_->published()) {
            unconfirmed_until_ = confirm_by;  // started on a chunk: the confirm is still to come
        }
        refusal = publish_refusal(outcome);
    }
    if (refusal) {
        auto res = error_reply(*refusal, true);
        record_metrics();
        co_await client_.send(std::move(res));
        co_return false;
    }
    // Queued: the model's own numbers start (the model is served, so its label set is bounded;
    // normalized, so "llama3.2" and "llama3.2:latest" count as the one model they are).
    model_ = &ctx_.metrics->model(normalize_model_name(m_.model));
    model_->waiting.inc();
    co_return true;
}

std::optional<llmp::error> relay::publish_refusal(std::optional<publish_outcome> outcome) {
    if (!outcome) {
        ctx_.metrics->publish_failed(publish_failure::timeout);
        return llmp::error{"broker_unavailable", "the message broker did not confirm the request; retry later", true};
    }
    if (*outcome == publish_outcome::queue_full) {
        ctx_.metrics->publish_failed(publish_failure::queue_full);
        return llmp::error{"queue_full", "the request queue is full; retry later", true};
    }
    if (*outcome == publish_outcome::broker_unavailable) {
        ctx_.metrics->publish_failed(publish_failure::broker_unavailable);
        return llmp::error{"broker_unavailable", "the message broker is unavailable; retry later", true};
    }
    return std::nullopt;
}

net::awaitable<std::optional<llmp::error>> relay::bind_resumable() {
    if (ctx_.bindings == nullptr) {
        co_return llmp::error{"broker_unavailable", "this server cannot relay resumable streams", true};
    }
    bound_ = true;
    ctx_.bindings->bind(m_.request_id, [weak = std::weak_ptr<response_sink>{sink_}] {
        if (auto s = weak.lock()) {
            s->deliver(publish_outcome::confirmed);  // the bind's answer comes as a publish's
        }
    });
    const auto bound_by = clock::now() + ctx_.cfg.relay.publish_confirm_timeout;
    auto bound = co_await sink_->wait_published(bound_by);
    sink_->forget_published();  // the request's own publish answers next
    if (!bound) {
        co_return llmp::error{"broker_unavailable", "could not bind the resumable stream on the message broker", true};
    }
    co_return std::nullopt;
}

net::awaitable<bool> relay::start_stream() {
    streaming_ = out_.streaming();
    if (!streaming_) {
        co_return true;
    }
    auto headers = out_.stream_headers();
    headers.emplace_back("X-Request-Id", m_.request_id);
    headers.insert(headers.end(), limit_headers_.begin(), limit_headers_.end());
    if (co_await client_.start_stream(out_.content_type(), headers)) {
        end_ = ending::client_gone;
        co_await finish();
        co_return false;
    }
    out_.start(buf_, m_);
    client_.watch([weak = std::weak_ptr<response_sink>{sink_}] {
        if (auto s = weak.lock()) {
            s->mark_client_gone();
        }
    });
    // Past the buffer cap the client is not keeping up: a write blocked on it is cancelled at
    // once rather than after the write timeout.
    sink_->on_overflow([this] { client_.cancel_write(); });
    co_return true;
}

bool relay::take_events() {
    auto& evs = sink_->events();
    const bool any = !evs.empty();
    std::size_t drained = 0;
    while (!evs.empty() && end_ == ending::none) {
        if (holding_final()) {
            break;  // the answer ends the stream only once the broker confirmed the request
        }
        auto ev = std::move(evs.front());
        evs.pop_front();
        if (auto* c = std::get_if<chunk_event>(&ev)) {
            drained += c->text.size();
            take_chunk(*c);
        } else if (auto* f = std::get_if<final_message>(&ev)) {
            done_ = std::make_unique<final_message>(std::move(*f));
            end_ = ending::completed;
        } else if (auto* e = std::get_if<error_message>(&ev)) {
            failure_ = std::make_unique<error_message>(std::move(*e));
            end_ = ending::failed;
            // This server ending its streams on SIGTERM (past the drain timeout): the worker
            // stops too, and the audit hears what the client was told.
            ended_here_ = failure_->code == "shutting_down";
        }
    }
    sink_->consumed(drained);
    return any;
}

void relay::take_chunk(chunk_event& c) {
    if (!serving_worker_.empty() && c.worker != serving_worker_) {
        // The request was redelivered to another worker: its worker died.
        if (relayed_ > 0) {
            fail_here({"worker_lost",
                       "the worker generating this answer stopped mid-stream (worker " + serving_worker_ +
                           "); retry the request",
                       true});
            return;
        }
        last_seq_ = 0;  // nothing reached the client yet: the new worker starts over
    }
    serving_worker_ = c.worker;
    if (c.seq != 0 && c.seq <= last_seq_) {
        return;  // a duplicate: already relayed
    }
    tokens_sent_ += c.seq > last_seq_ ? c.seq - last_seq_ : 1;  // a coalesced chunk holds several
    last_seq_ = c.seq;
    ++relayed_;
    if (ttft_ms_ < 0) {
        ttft_ms_ = ms_since(t0_);
        stop_waiting();
    }
    if (c.choice != 0) {
        // n > 1: another choice's text; a whole reply takes every choice's from the final.
        if (streaming_) {
            out_.choice_token(buf_, c.choice, c.text, c.seq);
        }
    } else if (streaming_) {
        out_.token(buf_, c.text, c.seq);
    } else {
        text_ += c.text;
    }
}

void relay::fail_here(error_message why) {
    failure_ = std::make_unique<error_message>(std::move(why));
    end_ = ending::failed;
    ended_here_ = true;
}

std::optional<error_message> relay::check_time(clock::time_point now, clock::time_point last_event) const {
    const auto& t = ctx_.cfg.relay;
    if (now >= deadline_) {
        return error_message{
            "timeout", "the request did not finish within its deadline of " + std::to_string(timeout_ms_) + " ms"};
    }
    if (now - last_event >= ctx_.cfg.stream_idle_timeout) {
        return error_message{
            "timeout", "no response from a worker for " + std::to_string(ctx_.cfg.stream_idle_timeout.count()) + " ms"};
    }
    // Silent on the stream and absent from the heartbeats: a worker killed with -9 says nothing.
    if (!serving_worker_.empty() && now - last_event >= t.worker_silence_limit &&
        !ctx_.workers.seen_within(serving_worker_, t.worker_silence_limit)) {
        return error_message{
            "worker_lost",
            "the worker generating this answer (" + serving_worker_ + ") stopped responding; retry the request", true};
    }
    return std::nullopt;
}

bool relay::fail_if_late(clock::time_point now, clock::time_point last_event) {
    auto late = check_time(now, last_event);
    if (late) {
        fail_here(std::move(*late));
    }
    return late.has_value();
}

net::awaitable<void> relay::pump() {
    const auto& t = ctx_.cfg.relay;
    auto last_event = clock::now();
    auto last_write = clock::now();
    while (end_ == ending::none) {
        if (awaiting_confirm() && fail_if_refused_late(clock::now())) {
            break;
        }
        if (take_events()) {
            last_event = clock::now();
        }
        if (end_ != ending::none) {
            break;
        }
        if (sink_->client_gone()) {
            end_ = ending::client_gone;
            break;
        }
        if (sink_->overflowed()) {
            fail_here(client_too_slow(m_.request_id, "its stream buffer overflowed"));
            break;
        }
        if (streaming_ && !buf_.empty()) {
            if (auto ec = co_await client_.write(buf_)) {
                if (ec == beast::error::timeout || sink_->overflowed()) {
                    fail_here(client_too_slow(m_.request_id, ec == beast::error::timeout
                                                                 ? "a write made no progress"
                                                                 : "its stream buffer overflowed"));
                } else {
                    end_ = ending::client_gone;
                }
                break;
            }
            buf_.clear();
            last_write = clock::now();
        }
        auto now = clock::now();
        if (fail_if_late(now, last_event)) {
            break;
        }
        if (streaming_ && now - last_write >= t.keepalive_interval) {
            out_.keepalive(buf_);
            if (buf_.empty()) {
                last_write = now;  // this flavour has no keep-alive (NDJSON): do not spin
            }
            continue;
        }
        auto wake = std::min({deadline_, last_event + ctx_.cfg.stream_idle_timeout, now + t.check_interval,
                              last_write + t.keepalive_interval});
        if (holding_final()) {
            co_await sink_->wait_published(std::min(wake, unconfirmed_until_));
        } else {
            co_await sink_->wait(wake);
        }
    }
}

bool relay::holding_final() {
    return awaiting_confirm() && !sink_->events().empty() &&
           std::holds_alternative<final_message>(sink_->events().front());
}

bool relay::fail_if_refused_late(clock::time_point now) {
    const auto& outcome = sink_->published();
    if (!outcome && now < unconfirmed_until_) {
        return false;
    }
    auto refusal = publish_refusal(outcome);
    if (!refusal) {
        unconfirmed_until_ = {};
        return false;
    }
    fail_here({std::move(refusal->code), std::move(refusal->message), refusal->retryable});
    return true;
}

void relay::ended_here(const error_message& told) {
    ctx_.publisher->publish_cancel(m_.request_id);
    ctx_.metrics->cancel_published();
    error_message v = told;
    v.worker_id = serving_worker_;
    v.model = m_.model;
    v.completion_tokens = tokens_sent_;
    v.ttft_ms = ttft_ms_ < 0 ? 0 : ttft_ms_;
    v.duration_ms = ms_since(t0_);
    v.completed_at_ms = unix_ms();
    copy_request_fields(m_, v);
    ctx_.publisher->publish_verdict(m_.request_id, v);
}

net::awaitable<void> relay::finish() {
    settle_limits();
    if (streaming_) {
        client_.stop_watching();
    }
    if (end_ == ending::client_gone) {
        api::logger()->info("msg=\"client went away\" request_id={} tokens_relayed={} resumable={}", m_.request_id,
                            relayed_, resumable_);
        outcome_ = relay_outcome::client_gone;
        ++ctx_.stats.failed;
        if (!resumable_) {
            ended_here(client_went_away);  // a resumable generation runs on, to be resumed
        }
        record_metrics();
        // Closed now, not left to the listener: should the client still be there after all, it
        // sees the end at once instead of waiting out the keep-alive idle timeout.
        client_.close();
        co_return;
    }
    if (ended_here_) {
        ended_here(*failure_);
    }
    // A client that does not read gets no closing event (writing it could block again): the
    // connection is closed, which frees the stream's slot now; the audit has the verdict.
    const bool client_unreadable = failure_ && failure_->code == "client_too_slow";
    if (client_unreadable) {
        client_.close();
    }

    relay_timings t;
    t.request_id = m_.request_id;
    t.total_ms = ms_since(t0_);
    t.ttft_ms = ttft_ms_ < 0 ? t.total_ms : ttft_ms_;
    outcome_ = done_ ? relay_outcome::completed : outcome_of(failure_->code);
    if (done_) {
        ++ctx_.stats.completed;
        if (done_->model.empty() || !m_.model_alias.empty()) {
            done_->model = public_model_name(m_);  // the client sees the name it sent
        }
    } else {
        ++ctx_.stats.failed;
    }
    if (done_ && !streaming_ && text_.empty()) {
        text_ = done_->text;
        tokens_sent_ = done_->completion_tokens;  // no chunk came: the answer is the final's text
    }
    record_metrics();
    api::logger()->info(
        "msg=\"request finished\" request_id={} model={} status={} tokens={} ttft_ms={:.1f} total_ms={:.1f}",
        m_.request_id, m_.model, done_ ? "ok" : failure_->code, done_ ? done_->completion_tokens : 0, t.ttft_ms,
        t.total_ms);

    if (client_unreadable) {
        co_return;
    }
    if (streaming_) {
        if (done_) {
            out_.done(buf_, *done_, t);
        } else {
            out_.error(buf_, *failure_);
        }
        auto ec = co_await client_.write(buf_);
        if (!ec) {
            co_await client_.finish();
        }
        if (!ended_here_) {
            if (!ec) {
                ctx_.publisher->confirm_delivery(m_.request_id);  // the worker's outcome reached the client
            } else {
                ended_here(client_went_away);  // it did not: the audit hears what the client saw
            }
        }
        co_return;
    }
    if (!done_) {
        auto res = error_reply(llmp::error{failure_->code, failure_->message, failure_->retryable}, true);
        co_await client_.send(std::move(res));
        if (!ended_here_) {
            ctx_.publisher->confirm_delivery(m_.request_id);
        }
        co_return;
    }
    auto res = out_.complete(*done_, text_, t);
    res.set("X-Request-Id", m_.request_id);
    for (const auto& [name, value] : limit_headers_) {
        res.set(name, value);
    }
    co_await client_.send(std::move(res));
    ctx_.publisher->confirm_delivery(m_.request_id);
}

net::awaitable<void> relay::answer_queued() {
    settle_limits();
    outcome_ = relay_outcome::background;
    record_metrics();
    api::logger()->info("msg=\"background request queued\" request_id={} model={}", m_.request_id, m_.model);
    auto res = background_->reply(m_);
    res.set("X-Request-Id", m_.request_id);
    for (const auto& [name, value] : limit_headers_) {
        res.set(name, value);
    }
    co_await client_.send(std::move(res));
}

net::awaitable<void> relay_generation(context& ctx, http_server::request_context& rc, request_message&& m,
                                      stream_renderer& out, std::optional<background_relay> background,
                                      stream_resumability resumability) {
    http_client_connection client{rc};
    relay r{ctx, client, out, client_request_of(rc), std::move(m), std::move(background), resumability};
    // Parsed into `m` and its headers copied: the body is not read again, and a stream can stay
    // open for minutes.
    std::string{}.swap(rc.req.body());
    co_await r.run();
}

}  // namespace llmp::api

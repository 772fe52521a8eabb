#include "api/relay.hpp"

#include "api/api_metrics.hpp"
#include "api/logger.hpp"
#include "api/request_timeout.hpp"
#include "broker/publisher.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "http/chunked_response.hpp"

namespace llmp::api {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// How often a waiting stream re-checks its worker and deadline.
constexpr auto check_interval = 500ms;
/// A stream whose worker has not been heard from for this long — no chunk on the stream and no
/// heartbeat — has lost it (heartbeats come every 2 s; a worker killed with -9 says nothing).
/// Chunks count: right after a broker restart a worker streams before its first heartbeat
/// reaches this server again.
constexpr auto worker_silence_limit = 4500ms;
/// An SSE comment this often keeps idle connections (and proxies) open while a model loads.
constexpr auto keepalive_interval = 15s;

struct scope_exit {
    std::function<void()> fn;
    ~scope_exit() { fn(); }
};

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

std::optional<std::string_view> header(const http_server::request& req, std::string_view name) {
    auto h = req.find(name);
    return h == req.end() ? std::nullopt : std::optional<std::string_view>{h->value()};
}

void publish_cancel(context& ctx, const std::string& request_id) {
    broker::publish_job job;
    job.msg.exchange = ctx.topo.control_exchange;
    job.msg.routing_key = broker::cancel_key(request_id);
    ctx.publisher->try_publish(std::move(job));
    ctx.metrics->cancel_published();
}

/// Tells the audit what the client was told when the relay, not the worker, ended the stream:
/// the stored outcome must be the client's even if the worker finished meanwhile or never
/// reports (broker::verdict_type). Straight into the audit queue, so no API server receives it.
void publish_verdict(context& ctx, const request_message& m, error_message v, const std::string& serving_worker,
                     std::int64_t tokens_sent, double ttft_ms, double total_ms) {
    v.worker_id = serving_worker;
    v.model = m.model;
    v.completion_tokens = tokens_sent;
    v.ttft_ms = ttft_ms < 0 ? 0 : ttft_ms;
    v.duration_ms = total_ms;
    v.completed_at_ms = unix_ms();
    broker::publish_job job;
    job.msg.exchange = "";  // the default exchange: routing key = queue name
    job.msg.routing_key = ctx.topo.audit_responses_queue;
    job.msg.props.type = std::string{broker::verdict_type};
    job.msg.props.correlation_id = m.request_id;
    job.msg.props.message_id = m.request_id;
    job.msg.props.content_type = "application/json";
    job.msg.props.persistent = true;
    job.msg.props.timestamp = v.completed_at_ms / 1000;
    job.msg.props.headers = {{"server_id", ctx.server_id}};
    job.msg.body = encode(v);
    job.done = [id = m.request_id, code = v.code](broker::publish_status s) {
        if (s != broker::publish_status::confirmed) {
            api::logger()->warn(
                "msg=\"verdict not audited; the audit keeps the worker's report\" request_id={} "
                "outcome={}",
                id, code);
        }
    };
    if (!ctx.publisher->try_publish(std::move(job))) {
        api::logger()->warn("msg=\"verdict not audited (publisher queue full)\" request_id={} outcome={}", m.request_id,
                            v.code);
    }
}

/// This server ended the stream (client gone or too slow, deadline, worker lost, shutdown): the
/// worker stops, and the audit hears what the client was told.
void ended_here(context& ctx, const request_message& m, const error_message& told, const std::string& serving_worker,
                std::int64_t tokens_sent, double ttft_ms, double total_ms) {
    publish_cancel(ctx, m.request_id);
    publish_verdict(ctx, m, told, serving_worker, tokens_sent, ttft_ms, total_ms);
}

const error_message client_went_away{"cancelled", "the client went away"};

error_message client_too_slow(const std::shared_ptr<spdlog::logger>& log, const std::string& request_id,
                              std::string_view why) {
    log->warn("msg=\"client too slow, stream cut\" request_id={} reason=\"{}\"", request_id, why);
    return {"client_too_slow", "the client did not read the stream fast enough"};
}

/// Publishes the request and waits for the broker's answer.
net::awaitable<result<void>> publish_request(context& ctx, const request_message& m, std::int64_t ttl_ms,
                                             const std::shared_ptr<response_sink>& sink) {
    broker::publish_job job;
    job.msg.exchange = ctx.topo.requests_exchange;
    job.msg.props.message_id = m.request_id;
    job.msg.props.content_type = "application/json";
    job.msg.props.persistent = true;
    job.msg.props.priority = static_cast<std::uint8_t>(m.priority);
    job.msg.props.timestamp = m.received_at_ms / 1000;
    if (ttl_ms > 0) {
        job.msg.props.expiration = std::to_string(ttl_ms);
    }
    job.msg.props.headers = {{"server_id", ctx.server_id}, {"api_flavour", m.api_flavour}};
    job.msg.body = encode(m);
    job.done = [sink](broker::publish_status s) {
        sink->deliver(s == broker::publish_status::confirmed ? publish_outcome::confirmed
                      : s == broker::publish_status::nacked  ? publish_outcome::queue_full
                                                             : publish_outcome::broker_unavailable);
    };
    if (!ctx.publisher->try_publish(std::move(job))) {
        ctx.metrics->publish_failed(publish_failure::overloaded);
        co_return fail("overloaded", "too many requests are waiting to be queued; retry shortly", true);
    }
    auto outcome = co_await sink->wait_published(clock::now() + 30s);
    if (!outcome) {
        ctx.metrics->publish_failed(publish_failure::timeout);
        co_return fail("broker_unavailable", "the message broker did not confirm the request; retry later", true);
    }
    if (*outcome == publish_outcome::queue_full) {
        ctx.metrics->publish_failed(publish_failure::queue_full);
        co_return fail("queue_full", "the request queue is full; retry later", true);
    }
    if (*outcome == publish_outcome::broker_unavailable) {
        ctx.metrics->publish_failed(publish_failure::broker_unavailable);
        co_return fail("broker_unavailable", "the message broker is unavailable; retry later", true);
    }
    co_return ok();
}

/// Watches the client's socket while the relay only writes: completes when the client closes
/// its side (or sends something, which an SSE client never does). `alive` is cleared when the
/// relay ends, so a late completion does nothing.
void watch_client(beast::tcp_stream& stream, const std::shared_ptr<response_sink>& sink,
                  const std::shared_ptr<bool>& alive) {
    stream.socket().async_wait(net::socket_base::wait_read, [&stream, weak = std::weak_ptr<response_sink>{sink},
                                                             alive](boost::system::error_code ec) {
        if (!*alive || ec == net::error::operation_aborted) {
            return;
        }
        boost::system::error_code ec2;
        auto pending = stream.socket().available(ec2);
        if (ec || ec2 || pending == 0) {
            if (auto s = weak.lock()) {
                s->mark_client_gone();
            }
        }
    });
}

}  // namespace

net::awaitable<void> relay_generation(context& ctx, http_server::request_context& rc, request_message m,
                                      stream_renderer& out) {
    const auto t0 = clock::now();
    auto log = api::logger();
    ++ctx.stats.requests;
    // Metrics: every exit below sets `outcome` (rejected until the request is queued).
    relay_outcome outcome = relay_outcome::rejected;
    std::int64_t tokens_sent = 0;
    double ttft_ms = -1;
    scope_exit record_metrics{[&] {
        ctx.metrics->relay_ended(rc.req.target(), outcome, tokens_sent, ttft_ms < 0 ? -1.0 : ttft_ms / 1000.0);
    }};

    // The client's numbers first: a 400 does not depend on the broker or the model.
    auto timeout = request_timeout_ms(m.timeout_ms, header(rc.req, "X-Request-Timeout-Ms"),
                                      ctx.cfg.request_timeout.count(), ctx.cfg.max_request_timeout.count());
    auto priority = header_priority(header(rc.req, "X-Priority"));
    if (!timeout || !priority) {
        auto res = out.failure(!timeout ? timeout.error() : priority.error());
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    const std::int64_t timeout_ms = timeout.value();
    m.priority = priority.value().value_or(m.priority);

    // Broker down: say so (the worker registry empties after missed heartbeats, which would
    // otherwise read as "no workers").
    if (ctx.publisher != nullptr && !ctx.publisher->connected()) {
        auto res = out.failure({"broker_unavailable", "the message broker is unavailable; retry later", true});
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    if (!ctx.workers.serves(m.model)) {
        auto served = ctx.workers.models();
        auto e = served.empty()
                     ? error{"no_workers", "no worker is serving any model right now; retry shortly", true}
                     : error{"model_not_found",
                             "model '" + m.model + "' is not served by any live worker (served: " + join(served) + ")"};
        auto res = out.failure(e);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    if (ctx.cfg.max_streams > 0 && ctx.stats.streams_open.load() >= ctx.cfg.max_streams) {
        auto res = out.failure({"overloaded", "this server has too many open streams; retry shortly", true});
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    m.request_id = new_uuid();
    m.server_id = ctx.server_id;
    m.received_at_ms = unix_ms();
    m.deadline_ms = timeout_ms > 0 ? m.received_at_ms + timeout_ms : 0;
    m.route = std::string{rc.req.target()};
    m.client_addr = rc.remote_addr;
    if (auto ua = rc.req.find(http::field::user_agent); ua != rc.req.end()) {
        m.user_agent = std::string{ua->value()};
    }
    const auto deadline = timeout_ms > 0 ? t0 + std::chrono::milliseconds{timeout_ms} : clock::time_point::max();

    auto sink = std::make_shared<response_sink>(rc.stream.get_executor(), ctx.cfg.max_stream_buffer);
    ctx.streams.add(m.request_id, sink);
    ++ctx.stats.streams_open;
    auto alive = std::make_shared<bool>(true);
    scope_exit unregister{[&] {
        *alive = false;
        ctx.streams.remove(m.request_id);
        --ctx.stats.streams_open;
    }};

    if (auto published = co_await publish_request(ctx, m, timeout_ms, sink); !published) {
        ++ctx.stats.rejected;
        auto res = out.failure(published.error());
        res.set("X-Request-Id", m.request_id);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }

    std::string buf;
    http_server::chunked_response stream{rc};
    const bool streaming = out.streaming();
    if (streaming) {
        auto headers = out.stream_headers();
        headers.emplace_back("X-Request-Id", m.request_id);
        if (co_await stream.start(http::status::ok, out.content_type(), headers)) {
            outcome = relay_outcome::client_gone;
            ended_here(ctx, m, client_went_away, {}, 0, -1, ms_since(t0));
            co_return;
        }
        out.start(buf, m);
        watch_client(rc.stream, sink, alive);
        // Past the buffer cap the client is not keeping up: a write blocked on it is cancelled
        // at once rather than after the write timeout.
        sink->on_overflow([&stream = rc.stream, alive] {
            if (*alive) {
                stream.cancel();
            }
        });
    }

    std::string text;  // the whole answer, for non-streamed replies
    std::string serving_worker;
    std::int64_t last_seq = 0;
    std::int64_t relayed = 0;
    auto last_event = clock::now();
    auto last_write = clock::now();
    std::optional<final_message> done;
    std::optional<error_message> failure;
    bool cancel_worker = false;

    while (!done && !failure) {
        auto& evs = sink->events();
        std::size_t drained = 0;
        if (!evs.empty()) {
            last_event = clock::now();
        }
        while (!evs.empty() && !done && !failure) {
            auto ev = std::move(evs.front());
            evs.pop_front();
            if (auto* c = std::get_if<chunk_event>(&ev)) {
                drained += c->text.size();
                if (!serving_worker.empty() && c->worker != serving_worker) {
                    // The request was redelivered to another worker: its worker died.
                    if (relayed > 0) {
                        failure = error_message{"worker_lost",
                                                "the worker generating this answer stopped mid-stream (worker " +
                                                    serving_worker + "); retry the request",
                                                true};
                        cancel_worker = true;
                        break;
                    }
                    last_seq = 0;
                }
                serving_worker = c->worker;
                if (c->seq != 0 && c->seq <= last_seq) {
                    continue;  // a duplicate: already relayed
                }
                tokens_sent += c->seq > last_seq ? c->seq - last_seq : 1;  // a coalesced chunk holds several
                last_seq = c->seq;
                ++relayed;
                if (ttft_ms < 0) {
                    ttft_ms = ms_since(t0);
                }
                if (streaming) {
                    out.token(buf, c->text, c->seq);
                } else {
                    text += c->text;
                }
            } else if (auto* f = std::get_if<final_message>(&ev)) {
                done = std::move(*f);
            } else if (auto* e = std::get_if<error_message>(&ev)) {
                failure = std::move(*e);
                // This server ending its streams on SIGTERM (past the drain timeout): the
                // worker stops too, and the audit hears what the client was told.
                cancel_worker = failure->code == "shutting_down";
            }
        }
        sink->consumed(drained);
        if (done || failure) {
            break;
        }
        if (sink->client_gone()) {
            log->info("msg=\"client went away\" request_id={} tokens_relayed={}", m.request_id, relayed);
            outcome = relay_outcome::client_gone;
            ++ctx.stats.failed;
            ended_here(ctx, m, client_went_away, serving_worker, tokens_sent, ttft_ms, ms_since(t0));
            co_return;
        }
        if (sink->overflowed()) {
            failure = client_too_slow(log, m.request_id, "its stream buffer overflowed");
            cancel_worker = true;
            break;
        }
        if (streaming && !buf.empty()) {
            if (auto ec = co_await stream.write(buf)) {
                if (ec == beast::error::timeout || sink->overflowed()) {
                    failure = client_too_slow(
                        log, m.request_id,
                        ec == beast::error::timeout ? "a write made no progress" : "its stream buffer overflowed");
                    cancel_worker = true;
                    break;
                }
                log->info("msg=\"client went away\" request_id={} tokens_relayed={}", m.request_id, relayed);
                outcome = relay_outcome::client_gone;
                ++ctx.stats.failed;
                ended_here(ctx, m, client_went_away, serving_worker, tokens_sent, ttft_ms, ms_since(t0));
                co_return;
            }
            buf.clear();
            last_write = clock::now();
        }
        auto now = clock::now();
        if (now >= deadline) {
            failure = error_message{
                "timeout", "the request did not finish within its deadline of " + std::to_string(timeout_ms) + " ms"};
            cancel_worker = true;
            break;
        }
        if (now - last_event >= ctx.cfg.stream_idle_timeout) {
            failure = error_message{"timeout", "no response from a worker for " +
                                                   std::to_string(ctx.cfg.stream_idle_timeout.count()) + " ms"};
            cancel_worker = true;
            break;
        }
        if (!serving_worker.empty() && now - last_event >= worker_silence_limit &&
            !ctx.workers.seen_within(serving_worker, worker_silence_limit)) {
            failure = error_message{
                "worker_lost",
                "the worker generating this answer (" + serving_worker + ") stopped responding; retry the request",
                true};
            cancel_worker = true;
            break;
        }
        if (streaming && now - last_write >= keepalive_interval) {
            out.keepalive(buf);
            if (buf.empty()) {
                last_write = now;  // this flavour has no keep-alive (NDJSON): do not spin
            }
            continue;
        }
        auto wake = std::min({deadline, last_event + ctx.cfg.stream_idle_timeout, now + check_interval,
                              last_write + keepalive_interval});
        co_await sink->wait(wake);
    }
    if (cancel_worker) {
        ended_here(ctx, m, *failure, serving_worker, tokens_sent, ttft_ms, ms_since(t0));
    }
    if (streaming) {
        *alive = false;
        boost::system::error_code ignored;
        rc.stream.socket().cancel(ignored);  // the client watch
    }
    // A client that does not read gets no closing event (writing it could block again): the
    // connection is closed, which frees the stream's slot now; the audit has the verdict.
    const bool client_unreadable = failure && failure->code == "client_too_slow";
    if (client_unreadable) {
        rc.keep_alive = false;
        rc.stream.close();
    }

    relay_timings t;
    t.request_id = m.request_id;
    t.total_ms = ms_since(t0);
    t.ttft_ms = ttft_ms < 0 ? t.total_ms : ttft_ms;
    outcome = done ? relay_outcome::completed : outcome_of(failure->code);
    if (done) {
        ++ctx.stats.completed;
        ctx.stats.tokens += done->completion_tokens;
        if (done->model.empty()) {
            done->model = m.model;
        }
    } else {
        ++ctx.stats.failed;
    }
    log->info("msg=\"request finished\" request_id={} model={} status={} tokens={} ttft_ms={:.1f} total_ms={:.1f}",
              m.request_id, m.model, done ? "ok" : failure->code, done ? done->completion_tokens : 0, t.ttft_ms,
              t.total_ms);

    if (client_unreadable) {
        co_return;
    }
    if (streaming) {
        if (done) {
            out.done(buf, *done, t);
        } else {
            out.error(buf, *failure);
        }
        if (!co_await stream.write(buf)) {
            co_await stream.finish();
        }
        co_return;
    }
    if (!done) {
        auto res = out.failure(error{failure->code, failure->message, failure->retryable});
        res.set("X-Request-Id", m.request_id);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    if (text.empty()) {
        text = done->text;
        tokens_sent = done->completion_tokens;  // no chunk came: the answer is the final's text
    }
    auto res = out.complete(*done, text, t);
    res.set("X-Request-Id", m.request_id);
    co_await http_server::send(rc, std::move(res));
}

}  // namespace llmp::api

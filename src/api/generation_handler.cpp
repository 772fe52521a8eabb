#include "api/generation_handler.hpp"

#include "api/logger.hpp"
#include "api/request_parser.hpp"
#include "broker/publisher.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/json_escape.hpp"
#include "http/chunked_response.hpp"
#include "http/error_response.hpp"
#include "http/sse.hpp"

#include <charconv>

namespace llmp::api {
namespace {

using http_server::chunked_response;
using http_server::error_response;
using http_server::json_response;
using clock = std::chrono::steady_clock;

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

/// The done event's body / the non-stream reply's metrics.
nlohmann::json metrics_json(const std::string& request_id, const final_message& f, double ttft_ms,
                            double total_ms) {
    return {{"request_id", request_id},
            {"model", f.model},
            {"done_reason", f.done_reason},
            {"prompt_tokens", f.prompt_tokens},
            {"completion_tokens", f.completion_tokens},
            {"ttft_ms", ttft_ms},
            {"total_ms", total_ms},
            {"tokens_per_s", f.tokens_per_s},
            {"worker_id", f.worker_id},
            {"provider", f.provider}};
}

std::string error_json(const error_message& e) {
    nlohmann::json j{{"code", e.code}, {"message", e.message}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

error to_error(const error_message& e) { return error{e.code, e.message, e.retryable}; }

/// Publishes the request and waits for the broker's answer.
net::awaitable<result<void>> publish_request(context& ctx, const request_message& m,
                                              const std::shared_ptr<response_sink>& sink) {
    broker::publish_job job;
    job.msg.exchange = ctx.topo.requests_exchange;
    job.msg.props.message_id = m.request_id;
    job.msg.props.content_type = "application/json";
    job.msg.props.persistent = true;
    job.msg.props.priority = static_cast<std::uint8_t>(m.priority);
    job.msg.props.timestamp = m.received_at_ms / 1000;
    if (ctx.cfg.request_timeout.count() > 0) {
        job.msg.props.expiration = std::to_string(ctx.cfg.request_timeout.count());
    }
    job.msg.props.headers = {{"server_id", ctx.server_id}, {"api_flavour", m.api_flavour}};
    job.msg.body = encode(m);
    job.done = [sink](broker::publish_status s) {
        sink->deliver(s == broker::publish_status::confirmed ? publish_outcome::confirmed
                      : s == broker::publish_status::nacked  ? publish_outcome::queue_full
                                                             : publish_outcome::broker_unavailable);
    };
    if (!ctx.publisher->try_publish(std::move(job))) {
        co_return fail("overloaded", "too many requests are waiting to be queued; retry shortly", true);
    }
    auto outcome = co_await sink->wait_published(clock::now() + std::chrono::seconds{30});
    if (!outcome) {
        co_return fail("broker_unavailable", "the message broker did not confirm the request", true);
    }
    if (*outcome == publish_outcome::queue_full) {
        co_return fail("queue_full", "the request queue is full; retry later", true);
    }
    if (*outcome == publish_outcome::broker_unavailable) {
        co_return fail("broker_unavailable", "the message broker is unavailable; retry later", true);
    }
    co_return ok();
}

}  // namespace

net::awaitable<void> handle_generation(context& ctx, http_server::request_context& rc, request_kind kind) {
    const auto t0 = clock::now();
    auto log = api::logger();
    ++ctx.stats.requests;

    auto parsed = parse_generation_request(rc.req.body(), kind);
    if (!parsed) {
        co_await http_server::send(rc, error_response(parsed.error()));
        co_return;
    }
    request_message m = std::move(parsed.value());
    if (!ctx.workers.serves(m.model)) {
        auto served = ctx.workers.models();
        auto e = served.empty()
                     ? error{"no_workers", "no worker is serving any model right now; retry shortly", true}
                     : error{"model_not_found", "model '" + m.model +
                                                    "' is not served by any live worker (served: " +
                                                    join(served) + ")"};
        co_await http_server::send(rc, error_response(e));
        co_return;
    }
    if (auto h = rc.req.find("X-Priority"); h != rc.req.end()) {
        int p = 0;
        auto v = h->value();
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), p);
        if (ec == std::errc{} && p >= 0 && p <= 9) {
            m.priority = p;
        }
    }
    m.request_id = new_uuid();
    m.server_id = ctx.server_id;
    m.received_at_ms = unix_ms();
    if (ctx.cfg.request_timeout.count() > 0) {
        m.deadline_ms = m.received_at_ms + ctx.cfg.request_timeout.count();
    }
    m.route = std::string{rc.req.target()};
    m.client_addr = rc.remote_addr;
    if (auto ua = rc.req.find(http::field::user_agent); ua != rc.req.end()) {
        m.user_agent = std::string{ua->value()};
    }

    auto sink = std::make_shared<response_sink>(rc.stream.get_executor(), ctx.cfg.max_stream_buffer);
    ctx.streams.add(m.request_id, sink);
    ++ctx.stats.streams_open;
    scope_exit unregister{[&] {
        ctx.streams.remove(m.request_id);
        --ctx.stats.streams_open;
    }};

    if (auto published = co_await publish_request(ctx, m, sink); !published) {
        ++ctx.stats.rejected;
        auto res = error_response(published.error());
        res.set("X-Request-Id", m.request_id);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }

    std::string text;          // the whole answer, for "stream": false
    std::int64_t last_seq = 0;
    double ttft_ms = -1;
    std::string out;
    chunked_response stream{rc};
    if (m.stream) {
        auto headers = http_server::sse_headers();
        headers.emplace_back("X-Request-Id", m.request_id);
        if (co_await stream.start(http::status::ok, "text/event-stream", headers)) {
            co_return;
        }
        std::string start;
        start.append("{\"request_id\":\"").append(m.request_id).append("\",\"model\":");
        append_json_string(start, m.model);
        start.push_back('}');
        sse::append_event(out, "start", start);
    }

    bool finished = false;
    std::optional<error_message> failure;
    std::optional<final_message> done;
    while (!finished) {
        auto& evs = sink->events();
        std::size_t drained = 0;
        while (!evs.empty()) {
            auto ev = std::move(evs.front());
            evs.pop_front();
            if (auto* c = std::get_if<chunk_event>(&ev)) {
                drained += c->text.size();
                if (c->seq != 0 && c->seq <= last_seq) {
                    continue;  // a duplicate (redelivery): already sent
                }
                last_seq = c->seq;
                if (ttft_ms < 0) {
                    ttft_ms = ms_since(t0);
                }
                if (m.stream) {
                    std::string data;
                    data.reserve(c->text.size() + 16);
                    data.append("{\"content\":");
                    append_json_string(data, c->text);
                    data.push_back('}');
                    sse::append_event(out, "token", data, std::to_string(c->seq));
                } else {
                    text += c->text;
                }
            } else if (auto* f = std::get_if<final_message>(&ev)) {
                done = std::move(*f);
                finished = true;
                break;
            } else if (auto* e = std::get_if<error_message>(&ev)) {
                failure = std::move(*e);
                finished = true;
                break;
            }
        }
        sink->consumed(drained);
        if (sink->overflowed() && !finished) {
            log->warn("msg=\"client too slow, stream cut\" request_id={}", m.request_id);
            failure = error_message{"client_too_slow", "the client did not read the stream fast enough"};
            finished = true;
        }
        if (!finished) {
            if (m.stream && !out.empty()) {
                if (co_await stream.write(out)) {
                    log->info("msg=\"client went away\" request_id={}", m.request_id);
                    ++ctx.stats.failed;
                    co_return;
                }
                out.clear();
            }
            if (!co_await sink->wait(clock::now() + ctx.cfg.stream_idle_timeout)) {
                failure = error_message{"timeout", "no response from a worker within " +
                                                       std::to_string(ctx.cfg.stream_idle_timeout.count() / 1000) +
                                                       " s"};
                finished = true;
            }
        }
    }

    const double total_ms = ms_since(t0);
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
              m.request_id, m.model, done ? "ok" : failure->code, done ? done->completion_tokens : 0,
              ttft_ms, total_ms);

    if (m.stream) {
        if (done) {
            sse::append_event(out, "done", metrics_json(m.request_id, *done, ttft_ms < 0 ? total_ms : ttft_ms, total_ms).dump());
        } else {
            sse::append_event(out, "error", error_json(*failure));
        }
        if (!co_await stream.write(out)) {
            co_await stream.finish();
        }
        co_return;
    }

    if (!done) {
        auto res = error_response(to_error(*failure));
        res.set("X-Request-Id", m.request_id);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    if (text.empty()) {
        text = done->text;
    }
    auto body = metrics_json(m.request_id, *done, ttft_ms < 0 ? total_ms : ttft_ms, total_ms);
    body["done"] = true;
    if (kind == request_kind::chat) {
        body["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
        body["response"] = text;
    }
    auto res = json_response(http::status::ok, body);
    res.set("X-Request-Id", m.request_id);
    co_await http_server::send(rc, std::move(res));
}

}  // namespace llmp::api

#include "monitor/api_handlers.hpp"

#include "broker/topology.hpp"
#include "http/error_response.hpp"
#include "common/clock.hpp"
#include "common/errc.hpp"
#include "metrics/http_metrics.hpp"
#include "metrics/registry.hpp"
#include "monitor/db_pool.hpp"
#include "monitor/error_queries.hpp"
#include "monitor/heartbeat_listener.hpp"
#include "monitor/host_guard.hpp"
#include "monitor/ingest_health.hpp"
#include "monitor/key_admin.hpp"
#include "monitor/key_budgets.hpp"
#include "monitor/key_usage_queries.hpp"
#include "monitor/live_workers.hpp"
#include "monitor/model_live_view.hpp"
#include "monitor/model_metrics.hpp"
#include "monitor/monitor_auth.hpp"
#include "monitor/query_string.hpp"
#include "monitor/queue_sampler.hpp"
#include "monitor/request_queries.hpp"
#include "monitor/result_cache.hpp"
#include "monitor/shared_reads.hpp"
#include "monitor/storage_queries.hpp"
#include "monitor/session_store.hpp"
#include "monitor/static_files.hpp"
#include "monitor/stats_queries.hpp"
#include "monitor/time_window.hpp"
#include "monitor/viewer_redaction.hpp"
#include "pg/connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/status.hpp>

#include <charconv>

namespace llmp::monitor {
namespace {

using http_server::request_context;
using http_server::response;
using nlohmann::json;

// Every helper below is a plain function: g++ 12 miscompiles braced nlohmann initialisers and
// ?: on temporaries inside coroutine bodies, so coroutines only parse, await and send.

constexpr std::string_view requests_prefix = "/api/requests/";

response json_ok(const json& body) {
    auto res = http_server::json_response(http::status::ok, body);
    res.set(http::field::cache_control, "no-store");
    return res;
}

/// Messages waiting in the work queues (the legacy one and every model's) from the latest
/// sample (0 when unknown).
std::int64_t work_queue_depth(const json& q) {
    return q.value("available", false) ? q.value("work_messages", std::int64_t{0}) : 0;
}

response overview_reply(monitor_context& m, const db_reply& r, const duration_arg& w) {
    if (!r.ok) {
        return error_reply(r.err);
    }
    json body = r.body;
    body["window"] = w.text;
    body["window_s"] = w.seconds;
    body["in_flight"] = m.workers.in_flight();
    auto q = m.queues.latest();
    body["queue_depth"] = work_queue_depth(q);
    body["queues_available"] = q.value("available", false);
    std::int64_t live = 0;
    for (const auto& wk : m.workers.snapshot()) {
        live += wk.state == "live" ? 1 : 0;
    }
    body["live_workers"] = live;
    return json_ok(body);
}

response timeseries_reply(monitor_context& m, const db_reply& r) {
    if (!r.ok) {
        return error_reply(r.err);
    }
    json body = r.body;
    auto bucket_ms = body.value("bucket_s", std::int64_t{10}) * 1000;
    auto& points = body["points"];
    std::int64_t since = points.empty() ? unix_ms() : points.front().value("t", std::int64_t{0}) - 1;
    auto samples = m.queues.history(since);
    // The deepest work queue seen in each bucket; null where no sample fell (before the
    // monitor started, or while the management API was down).
    std::size_t k = 0;
    for (auto& p : points) {
        auto t0 = p.value("t", std::int64_t{0});
        json depth = nullptr;
        while (k < samples.size() && samples[k].t_ms < t0) {
            ++k;
        }
        for (std::size_t j = k; j < samples.size() && samples[j].t_ms < t0 + bucket_ms; ++j) {
            depth = std::max(depth.is_null() ? std::int64_t{0} : depth.get<std::int64_t>(), samples[j].work);
        }
        p["queue_depth"] = depth;
    }
    return json_ok(body);
}

json live_worker_json(const live_worker& w) {
    return {{"worker_id", w.hb.worker_id},
            {"state", w.state},
            {"host", w.hb.host},
            {"provider", w.hb.provider},
            {"models", w.hb.models},
            {"in_flight", w.hb.in_flight},
            {"concurrency", w.hb.concurrency},
            {"tokens_per_s", w.hb.tokens_per_s},
            {"requests_total", w.hb.requests_total},
            {"tokens_total", w.hb.tokens_total},
            {"last_seen_ms", w.last_seen_ms},
            {"seen_ago_s", w.seen_ago_s}};
}

/// Live heartbeats merged with the database's workers table and window totals. When the
/// database is down the live part is still served, with "database_error" saying why.
response workers_reply(monitor_context& m, const db_reply& r, const duration_arg& w) {
    std::map<std::string, json> by_id;
    for (const auto& lw : m.workers.snapshot()) {
        json j = live_worker_json(lw);
        j["live"] = true;
        by_id[lw.hb.worker_id] = std::move(j);
    }
    json body{{"window", w.text}, {"window_s", w.seconds}};
    if (r.ok) {
        for (const auto& row : r.body["workers"]) {
            auto id = row.value("worker_id", "");
            auto it = by_id.find(id);
            if (it == by_id.end()) {
                json j = row;
                j["live"] = false;
                // Never heard by this monitor: the table says whether it left.
                j["state"] = row["left_at_ms"].is_null() ? "offline" : "left";
                j["in_flight"] = 0;
                j["last_seen_ms"] = row["db_last_seen_ms"];
                by_id[id] = std::move(j);
                continue;
            }
            for (const auto& key : {"first_seen_ms", "db_last_seen_ms", "left_at_ms", "window"}) {
                it->second[key] = row[key];
            }
        }
    } else {
        body["database_error"] = r.err.message;
    }
    json list = json::array();
    for (auto& [id, j] : by_id) {
        if (!j.contains("window")) {
            j["window"] = {{"requests", 0},
                           {"errors", 0},
                           {"completion_tokens", 0},
                           {"mean_tokens_per_s", 0.0},
                           {"latency_p50_ms", 0.0}};
        }
        list.push_back(std::move(j));
    }
    body["workers"] = std::move(list);
    body["heartbeats_connected"] = m.heartbeats.connected();
    return json_ok(body);
}

/// The per-model live view (heartbeats and model queues) for the models of `known`.
std::vector<model_live> live_view_of(monitor_context& m, const std::vector<std::string>& known) {
    return model_live_view(m.queues.latest(), m.workers.snapshot(), broker::topology{m.cfg.broker.prefix}, known);
}

/// /api/models: the stored rows of the window, each with its model's live workers, free slots
/// and work queue; models with a worker or a queue but no rows in the window are added.
response models_reply(monitor_context& m, const db_reply& r, const duration_arg&) {
    if (!r.ok) {
        return error_reply(r.err);
    }
    json body = r.body;
    auto view = live_view_of(m, model_names(body));
    merge_model_live(body, view, m.queues.latest().value("available", false));
    return json_ok(body);
}

/// The stored half of /metrics by model, from a read of the last minute (r), or unknown.
void apply_model_window(monitor_context& m, const db_reply& r) {
    m.model_gauges.set_live(live_view_of(m, r.ok ? model_names(r.body) : std::vector<std::string>{}));
    m.model_gauges.set_window(r.ok ? &r.body : nullptr);
}

/// GET /metrics: the registry, with the live gauges by model set now.
response metrics_reply(monitor_context& m, const request_context& ctx) {
    m.model_gauges.set_live(live_view_of(m, {}));
    response res{http::status::ok, ctx.req.version()};
    res.set(http::field::content_type, metrics::content_type);
    m.registry.render(res.body());
    return res;
}

response queues_reply(monitor_context& m) {
    auto q = m.queues.latest();
    if (!q.value("available", false)) {
        return error_reply(make_error(errc::rabbitmq_management_unavailable,
                                      "queue statistics are unavailable: " + q.value("error", std::string{})));
    }
    q["prefix"] = m.cfg.broker.prefix;
    return json_ok(q);
}

response status_reply(monitor_context& m) {
    auto q = m.queues.latest();
    json body{{"database", {{"available", m.db.available()}}},
              {"heartbeats", {{"connected", m.heartbeats.connected()}}},
              {"rabbitmq_management", {{"available", q.value("available", false)}}},
              {"prefix", m.cfg.broker.prefix},
              {"now_ms", unix_ms()}};
    body["audit_ingest"] = to_json(m.ingest.ingest());
    body["audit_ingest"]["stall_after_s"] = std::chrono::duration<double>(m.ingest.stall_after()).count();
    body["dead_letters"] = to_json(m.ingest.dead_letters());
    if (!q.value("available", false)) {
        body["rabbitmq_management"]["error"] = q.value("error", std::string{});
    }
    return json_ok(body);
}

result<request_filter> parse_filter(const query_string& q) {
    request_filter f;
    auto set = [&](const char* key, std::optional<std::string>& out) {
        if (auto v = q.get(key); v && !v->empty()) {
            out = *v;
        }
    };
    set("model", f.model);
    set("status", f.status);
    set("worker", f.worker);
    set("key", f.key);
    set("from", f.from);
    set("to", f.to);
    set("q", f.text);
    if (auto c = q.get("cursor"); c && !c->empty()) {
        auto cur = cursor::decode(*c);
        if (!cur) {
            return cur.error();
        }
        f.after = cur.value();
    }
    if (auto w = q.get("window"); w && !w->empty()) {
        auto d = parse_window(*w);
        if (!d) {
            return d.error();
        }
        f.window_s = d.value().seconds;
    }
    if (auto l = q.get("limit"); l && !l->empty()) {
        auto [end, ec] = std::from_chars(l->data(), l->data() + l->size(), f.limit);
        if (ec != std::errc{} || end != l->data() + l->size()) {
            return fail("invalid_field", "limit must be a number");
        }
    }
    if (auto v = validate(f); !v) {
        return v.error();
    }
    return f;
}

response plain_reply(const db_reply& r) {
    return r.ok ? json_ok(r.body) : error_reply(r.err);
}

/// An error for `who`: 401s say how to authenticate.
response auth_error_reply(const error& e) {
    auto res = error_reply(e);
    if (res.result() == http::status::unauthorized) {
        res.set(http::field::www_authenticate, "Bearer realm=\"llmproxy monitor\"");
    }
    return res;
}

/// The history list or a request's detail as `who` may see it: admins everything, viewers
/// no texts (viewer_redaction.hpp).
response history_reply(const db_reply& r, bool texts, bool detail) {
    if (!r.ok || texts) {
        return plain_reply(r);
    }
    return json_ok(detail ? viewer_request_detail(r.body) : viewer_request_list(r.body));
}

/// Whether the credential of `ctx` may read texts; an error when it is no longer valid (the
/// gate let it in, but the key may have been revoked in between).
result<bool> texts_allowed(monitor_context& m, const request_context& ctx) {
    auto who = m.auth.identify(ctx.req);
    if (!who) {
        return who.error();
    }
    return may_read_texts(who.value());
}

std::optional<std::string_view> header_of(const http_server::request& req, http::field f) {
    auto it = req.find(f);
    if (it == req.end()) {
        return std::nullopt;
    }
    return std::string_view{it->value()};
}

json principal_json(const monitor_auth& auth, const principal& who) {
    json j{{"auth", auth.enabled() ? "keys" : "none"},
           {"role", std::string{keys::role_name(who.role)}},
           {"texts", may_read_texts(who)}};
    j["name"] = who.key_name.empty() ? json(nullptr) : json(who.key_name);
    return j;
}

response session_reply(monitor_context& m, const request_context& ctx) {
    auto who = m.auth.identify(ctx.req);
    return who ? json_ok(principal_json(m.auth, who.value())) : auth_error_reply(who.error());
}

/// POST /api/login: the key from {"key": "..."} (or an Authorization: Bearer header) opens a
/// session; the answer sets its cookie. No key is logged.
response login_reply(monitor_context& m, const request_context& ctx) {
    std::string key;
    if (auto authorization = header_of(ctx.req, http::field::authorization)) {
        if (auto token = keys::bearer_token(*authorization)) {
            key = std::string{*token};
        }
    }
    if (key.empty()) {
        auto j = json::parse(ctx.req.body(), nullptr, false);
        if (j.is_object() && j.contains("key") && j["key"].is_string()) {
            key = j["key"].get<std::string>();
        }
    }
    if (key.empty() && m.auth.enabled()) {
        return error_reply(make_error(errc::missing_field, "send the key as {\"key\": \"llmp_...\"}"));
    }
    auto s = m.auth.login(key);
    if (!s) {
        return auth_error_reply(s.error());
    }
    auto res = json_ok(principal_json(m.auth, s.value().who));
    if (m.auth.enabled()) {
        res.set(http::field::set_cookie,
                session_set_cookie(s.value().id, m.auth.sessions().ttl(), m.auth.secure_cookie(ctx.req)));
    }
    return res;
}

/// POST /api/logout: ends the cookie's session and deletes the cookie.
response logout_reply(monitor_context& m, const request_context& ctx) {
    m.auth.logout(ctx.req);
    auto res = json_ok(json{{"logged_out", true}});
    res.set(http::field::set_cookie, session_clear_cookie(m.auth.secure_cookie(ctx.req)));
    return res;
}

// The database jobs. Built here, in plain functions: a lambda with non-trivial captures
// created inside a coroutine body is destroyed twice by g++ 12 (seen as a double free).
using window_end = std::optional<std::int64_t>;
db_pool::job overview_job(std::int64_t s, window_end e) {
    return [s, e](pg::connection& c) { return query_overview(c, s, e); };
}
db_pool::job timeseries_job(std::int64_t ws, std::int64_t bs, window_end e) {
    return [ws, bs, e](pg::connection& c) { return query_timeseries(c, ws, bs, e); };
}
db_pool::job models_job(std::int64_t s, window_end e) {
    return [s, e](pg::connection& c) { return query_models(c, s, e); };
}
db_pool::job errors_job(std::int64_t s, window_end e) {
    return [s, e](pg::connection& c) { return query_errors(c, s, e); };
}
db_pool::job workers_job(std::int64_t s, window_end e) {
    return [s, e](pg::connection& c) { return query_worker_totals(c, s, e); };
}

/// `to=` (unix ms): the end of a custom range, whose length is `window`; absent = now.
result<window_end> parse_end(const query_string& q) {
    auto v = q.get("to");
    if (!v || v->empty()) {
        return window_end{};
    }
    std::int64_t ms = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), ms);
    if (ec != std::errc{} || end != v->data() + v->size() || ms <= 0) {
        return fail("invalid_field", "to must be a time in unix milliseconds");
    }
    return window_end{ms};
}
db_pool::job requests_job(request_filter f) {
    return [f = std::move(f)](pg::connection& c) { return query_requests(c, f); };
}
db_pool::job key_usage_job(std::int64_t s) {
    return [s](pg::connection& c) { return query_key_usage(c, s); };
}
/// Reads "now" when it runs, as every job shared_reads keeps must: it may run it again later.
db_pool::job tokens_used_job() {
    return [](pg::connection& c) { return query_tokens_used(c, used_bounds_at(unix_ms())); };
}

db_pool::job key_budgets_job(json used) {
    return [used = std::move(used)](pg::connection& c) { return query_key_budgets(c, used); };
}
/// from/to as given: without `to`, the range ends when the job runs (a rewarm reads up to then).
db_pool::job daily_usage_job(std::optional<std::string> from, std::optional<std::string> to) {
    return [from = std::move(from), to = std::move(to)](pg::connection& c) { return query_daily_usage(c, from, to); };
}

/// A usage parameter, nullopt when absent or empty.
std::optional<std::string> usage_param(const query_string& q, const char* key) {
    auto v = q.get(key);
    return v && !v->empty() ? v : std::nullopt;
}

/// from/to of the usage endpoints (key_usage_queries.hpp).
result<usage_range> usage_range_of(const query_string& q) {
    return parse_usage_range(usage_param(q, "from"), usage_param(q, "to"), unix_ms());
}

/// The daily usage's cache key: the parameters as given (no `to` = up to now, whenever now is).
std::string daily_usage_key(const query_string& q) {
    return "/api/usage/daily|" + q.get("from").value_or("") + "|" + q.get("to").value_or("now");
}

/// Days of usage move slowly: an answer is shared half a minute (and read again before it
/// expires while a tab shows it: shared_reads.hpp).
constexpr std::chrono::milliseconds daily_usage_ttl{30000};

/// The daily usage as a CSV download (RFC 4180, csv.hpp).
response daily_csv_reply(const db_reply& r, const usage_range& range) {
    if (!r.ok) {
        return error_reply(r.err);
    }
    response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/csv; charset=utf-8");
    res.set(http::field::content_disposition, "attachment; filename=\"" + daily_usage_filename(range) + "\"");
    res.set(http::field::cache_control, "no-store");
    res.body() = daily_usage_csv(r.body);
    res.prepare_payload();
    return res;
}

std::string detail_id(std::string_view path);
db_pool::job detail_job(const request_context& ctx) {
    std::string_view target = ctx.req.target();
    std::string id = detail_id(target.substr(0, target.find('?')));
    return [id = std::move(id)](pg::connection& c) { return query_request_detail(c, id); };
}

/// The cache key of a window read: the route and its canonical parameters.
std::string cache_key(const request_context& ctx, std::int64_t window_s, window_end e, std::int64_t extra = 0) {
    std::string_view target = ctx.req.target();
    return std::string{target.substr(0, target.find('?'))} + "|" + std::to_string(window_s) + "|" +
           (e ? std::to_string(*e) : std::string{"now"}) + "|" + std::to_string(extra);
}

// ---- coroutines: parse, await, send ----

net::awaitable<void> send_error(request_context& ctx, const error& e) {
    co_await http_server::send(ctx, error_reply(e));
}

using job_of_window = db_pool::job (*)(std::int64_t seconds, window_end end);
using reply_of_window = response (*)(monitor_context& m, const db_reply& r, const duration_arg& w);

response plain_window_reply(monitor_context&, const db_reply& r, const duration_arg&) {
    return plain_reply(r);
}

/// The routes that read one window (`window=`, optional `to=`): parse both, run `job_of` on the
/// pool, answer with `reply_of`.
net::awaitable<void> handle_window(monitor_context& m, request_context& ctx, job_of_window job_of,
                                   reply_of_window reply_of) {
    query_string q{ctx.req.target()};
    auto w = parse_window(q.get_or("window", "5m"));
    if (!w) {
        co_await send_error(ctx, w.error());
        co_return;
    }
    auto e = parse_end(q);
    if (!e) {
        co_await send_error(ctx, e.error());
        co_return;
    }
    std::string key = cache_key(ctx, w.value().seconds, e.value());
    db_pool::job job = job_of(w.value().seconds, e.value());
    db_reply r = co_await m.reads.read(std::move(key), result_cache::ttl_for(w.value().seconds), std::move(job));
    co_await http_server::send(ctx, reply_of(m, r, w.value()));
}

net::awaitable<void> handle_overview(monitor_context& m, request_context& ctx) {
    return handle_window(m, ctx, overview_job, overview_reply);
}

net::awaitable<void> handle_timeseries(monitor_context& m, request_context& ctx) {
    query_string q{ctx.req.target()};
    auto w = parse_window(q.get_or("window", "5m"));
    if (!w) {
        co_await send_error(ctx, w.error());
        co_return;
    }
    auto fallback = default_bucket(w.value()).text;
    auto b = parse_bucket(q.get_or("bucket", fallback), w.value());
    if (!b) {
        co_await send_error(ctx, b.error());
        co_return;
    }
    auto e = parse_end(q);
    if (!e) {
        co_await send_error(ctx, e.error());
        co_return;
    }
    std::string key = cache_key(ctx, w.value().seconds, e.value(), b.value().seconds);
    db_pool::job job = timeseries_job(w.value().seconds, b.value().seconds, e.value());
    db_reply r = co_await m.reads.read(std::move(key), result_cache::ttl_for(w.value().seconds), std::move(job));
    co_await http_server::send(ctx, timeseries_reply(m, r));
}

net::awaitable<void> handle_models(monitor_context& m, request_context& ctx) {
    return handle_window(m, ctx, models_job, models_reply);
}

/// Reads the last minute per model for /metrics, off the scrape (which never waits on the
/// database: it shows the figures of the previous read).
net::awaitable<void> read_model_window(monitor_context& m) {
    db_pool::job job = models_job(model_metrics::window_s, std::nullopt);
    db_reply r = co_await m.db.run(std::move(job));
    apply_model_window(m, r);
}

void start_model_window_read(monitor_context& m, const net::any_io_executor& ex) {
    net::co_spawn(ex, read_model_window(m), net::detached);
}

net::awaitable<void> handle_metrics(monitor_context& m, request_context& ctx) {
    if (m.model_gauges.begin_window_read()) {
        net::any_io_executor ex = co_await net::this_coro::executor;
        start_model_window_read(m, ex);
    }
    co_await http_server::send(ctx, metrics_reply(m, ctx));
}

net::awaitable<void> handle_errors(monitor_context& m, request_context& ctx) {
    return handle_window(m, ctx, errors_job, plain_window_reply);
}

net::awaitable<void> handle_workers(monitor_context& m, request_context& ctx) {
    return handle_window(m, ctx, workers_job, workers_reply);
}

net::awaitable<void> handle_requests(monitor_context& m, request_context& ctx) {
    auto texts = texts_allowed(m, ctx);
    if (!texts) {
        co_await http_server::send(ctx, auth_error_reply(texts.error()));
        co_return;
    }
    query_string q{ctx.req.target()};
    auto f = parse_filter(q);
    if (!f) {
        co_await send_error(ctx, f.error());
        co_return;
    }
    if (f.value().text && !texts.value()) {
        co_await send_error(ctx, make_error(errc::forbidden,
                                            "searching prompt and answer texts (q=) needs an admin "
                                            "key; a viewer sees the numbers only"));
        co_return;
    }
    // Shared like the numbers (ten tabs show the same first page): keyed by the whole query, kept
    // the shortest life, so a client sees a request it has just sent within 2 s. The rows do not
    // depend on the caller's role; history_reply below drops the texts a viewer may not see.
    std::string key = "requests|" + std::string{ctx.req.target()};
    db_pool::job job = requests_job(std::move(f.value()));
    db_reply r = co_await m.reads.read(std::move(key), result_cache::list_ttl, std::move(job));
    co_await http_server::send(ctx, history_reply(r, texts.value(), false));
}

net::awaitable<void> handle_key_usage(monitor_context& m, request_context& ctx) {
    query_string q{ctx.req.target()};
    auto w = parse_window(q.get_or("window", "5m"));
    if (!w) {
        co_await send_error(ctx, w.error());
        co_return;
    }
    std::string key = cache_key(ctx, w.value().seconds, std::nullopt);
    db_pool::job job = key_usage_job(w.value().seconds);
    db_reply r = co_await m.reads.read(std::move(key), result_cache::ttl_for(w.value().seconds), std::move(job));
    co_await http_server::send(ctx, plain_reply(r));
}

net::awaitable<void> handle_key_budgets(monitor_context& m, request_context& ctx) {
    // The tokens used move like the daily usage's numbers and are shared as long; the keys and
    // their limits are read at every call (an edit shows at once).
    db_pool::job used_job = tokens_used_job();
    db_reply used = co_await m.reads.read("/api/usage/budgets|used", daily_usage_ttl, std::move(used_job));
    if (!used.ok) {
        co_await http_server::send(ctx, plain_reply(used));
        co_return;
    }
    db_pool::job job = key_budgets_job(std::move(used.body));
    db_reply r = co_await m.db.run(std::move(job));
    co_await http_server::send(ctx, plain_reply(r));
}

// /api/usage/daily as JSON, or as CSV (`csv`) for /api/usage/daily.csv: one query either way.
net::awaitable<void> send_daily_usage(monitor_context& m, request_context& ctx, bool csv) {
    query_string q{ctx.req.target()};
    auto range = usage_range_of(q);
    if (!range) {
        co_await send_error(ctx, range.error());
        co_return;
    }
    db_pool::job job = daily_usage_job(usage_param(q, "from"), usage_param(q, "to"));
    std::string key = daily_usage_key(q);
    db_reply r = co_await m.reads.read(std::move(key), daily_usage_ttl, std::move(job));
    response res = csv ? daily_csv_reply(r, range.value()) : plain_reply(r);
    co_await http_server::send(ctx, std::move(res));
}

net::awaitable<void> handle_daily_usage(monitor_context& m, request_context& ctx) {
    co_await send_daily_usage(m, ctx, false);
}

net::awaitable<void> handle_daily_usage_csv(monitor_context& m, request_context& ctx) {
    co_await send_daily_usage(m, ctx, true);
}

net::awaitable<void> handle_request_detail(monitor_context& m, request_context& ctx) {
    auto texts = texts_allowed(m, ctx);
    if (!texts) {
        co_await http_server::send(ctx, auth_error_reply(texts.error()));
        co_return;
    }
    db_pool::job job = detail_job(ctx);
    db_reply r = co_await m.db.run(std::move(job));
    co_await http_server::send(ctx, history_reply(r, texts.value(), true));
}

db_pool::job storage_job() {
    return [](pg::connection& c) { return query_storage(c); };
}

/// /api/storage: the database's size and the retention, kept a minute (sizes move slowly).
net::awaitable<void> handle_storage(monitor_context& m, request_context& ctx) {
    db_pool::job job = storage_job();
    db_reply r = co_await m.reads.read("/api/storage", std::chrono::seconds{60}, std::move(job));
    response res = plain_reply(r);
    co_await http_server::send(ctx, std::move(res));
}

std::shared_ptr<http_server::router> build_routes(monitor_context& m) {
    auto r = std::make_shared<http_server::router>();
    auto get = [&](std::string path, auto fn) {
        r->add(http::verb::get, std::move(path), [&m, fn](request_context& ctx) { return fn(m, ctx); });
    };
    get("/api/overview", handle_overview);
    get("/api/timeseries", handle_timeseries);
    get("/api/models", handle_models);
    get("/api/workers", handle_workers);
    get("/api/errors", handle_errors);
    get("/api/requests", handle_requests);
    get("/api/usage/keys", handle_key_usage);
    get("/api/usage/budgets", handle_key_budgets);
    get("/api/usage/daily", handle_daily_usage);
    get("/api/usage/daily.csv", handle_daily_usage_csv);
    get("/api/storage", handle_storage);
    get("/api/queues",
        [](monitor_context& mc, request_context& ctx) { return http_server::send(ctx, queues_reply(mc)); });
    get("/api/status",
        [](monitor_context& mc, request_context& ctx) { return http_server::send(ctx, status_reply(mc)); });
    get("/api/session",
        [](monitor_context& mc, request_context& ctx) { return http_server::send(ctx, session_reply(mc, ctx)); });
    r->add(http::verb::post, "/api/login",
           [&m](request_context& ctx) { return http_server::send(ctx, login_reply(m, ctx)); });
    r->add(http::verb::post, "/api/logout",
           [&m](request_context& ctx) { return http_server::send(ctx, logout_reply(m, ctx)); });
    add_key_admin_routes(*r, m);
    get("/healthz", [](monitor_context&, request_context& ctx) {
        return http_server::send(ctx, http_server::json_response(http::status::ok, json{{"status", "ok"}}));
    });
    get("/metrics", handle_metrics);
    m.http.instrument(*r);
    return r;
}

/// The id of "/api/requests/<id>", or "" for any other path.
std::string detail_id(std::string_view path) {
    if (path.size() <= requests_prefix.size() || path.substr(0, requests_prefix.size()) != requests_prefix) {
        return {};
    }
    auto id = percent_decode(path.substr(requests_prefix.size()));
    return id.find('/') == std::string::npos ? id : std::string{};
}

bool is_api_path(std::string_view path) {
    return path.substr(0, 5) == "/api/" || path == "/api" || path == "/healthz" || path == "/metrics";
}

enum class route_kind { detail, api, file };

/// Answered to anyone who reaches the port, whatever Host they name: probes and Prometheus
/// (numbers only, no texts; a scraper addresses the monitor by whatever name or address it has).
bool is_open_path(std::string_view path) {
    return path == "/healthz" || path == "/metrics";
}

/// Every request passes here first. nullopt = go on; else the refusal to send: a Host this
/// monitor does not answer to (403), a state-changing request from another origin (403), an
/// /api/ request without an admin or viewer credential (401; 403 for a user key; 503 before
/// the keys were ever loaded), key administration by a viewer (403). The dashboard's files
/// (no data in them) are served to anyone who passes the Host check: without a credential
/// the page shows its login form.
std::optional<response> refusal(monitor_context& m, const http_server::request& req) {
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (is_open_path(path)) {
        return std::nullopt;
    }
    auto host = header_of(req, http::field::host);
    if (auto e = m.hosts.check_host(host)) {
        return error_reply(*e);
    }
    if (state_changing(req.method_string())) {
        if (auto e = host_guard::check_origin(header_of(req, http::field::origin), host)) {
            return error_reply(*e);
        }
    }
    if (!is_api_path(path) || path == "/api/login" || path == "/api/logout") {
        return std::nullopt;
    }
    auto who = m.auth.identify(req);
    if (!who) {
        return auth_error_reply(who.error());
    }
    bool key_admin = path == "/api/keys" || path.substr(0, 10) == "/api/keys/";
    if (key_admin && who.value().role != keys::key_role::admin) {
        return error_reply(make_error(errc::forbidden, "managing keys needs an admin key"));
    }
    return std::nullopt;
}

route_kind classify(const request_context& ctx) {
    std::string_view target = ctx.req.target();
    std::string_view path = target.substr(0, target.find('?'));
    bool get = ctx.req.method() == http::verb::get || ctx.req.method() == http::verb::head;
    if (get && !detail_id(path).empty()) {
        return route_kind::detail;
    }
    return is_api_path(path) ? route_kind::api : route_kind::file;
}

net::awaitable<void> serve_file(monitor_context& m, request_context& ctx) {
    response res = m.files.serve(ctx.req);
    co_await http_server::send(ctx, std::move(res));
}

}  // namespace

http_server::handler make_monitor_handler(monitor_context& m) {
    auto routes = build_routes(m);
    return [&m, routes](request_context& ctx) -> net::awaitable<void> {
        if (auto refused = refusal(m, ctx.req)) {
            co_await http_server::send(ctx, std::move(*refused));
            co_return;
        }
        switch (classify(ctx)) {
            case route_kind::detail:
                co_await handle_request_detail(m, ctx);
                break;
            case route_kind::api:
                co_await routes->dispatch(ctx);
                break;
            case route_kind::file:
                co_await serve_file(m, ctx);
                break;
        }
    };
}

response error_reply(const error& e) {
    return http_server::error_response(e);
}

}  // namespace llmp::monitor

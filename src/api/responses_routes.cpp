#include "api/responses_routes.hpp"

#include "api/api_metrics.hpp"
#include "api/logger.hpp"
#include "api/openai_renderer.hpp"
#include "api/relay.hpp"
#include "api/request_publisher.hpp"
#include "api/responses_renderer.hpp"
#include "api/responses_request_parser.hpp"
#include "api/responses_resume.hpp"
#include "api/responses_store.hpp"
#include "common/errc.hpp"
#include "common/json_get.hpp"
#include "http/error_response.hpp"
#include "keys/api_key.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <optional>
#include <string_view>

namespace llmp::api {
namespace {

using json = nlohmann::json;

constexpr std::string_view no_store_hint =
    "stored responses are not readable on this server (start llmproxy api with --responses-db)";

llmp::error not_found(std::string_view response_id) {
    return make_error(errc::not_found, "No response found with id '" + std::string{response_id} + "'.");
}

/// The stored response `response_id` if the caller may read it: stored (store not false), not
/// deleted, and with --auth keys created with the caller's key. Otherwise 404 (or the store's error).
net::awaitable<result<stored_response>> readable(const context& ctx, http_server::request_context& rc,
                                                 responses_store& store, std::string_view response_id) {
    auto request_id = request_id_of_response(response_id);
    if (request_id.empty()) {
        co_return not_found(response_id);
    }
    auto found = co_await store.load(std::move(request_id));
    if (!found) {
        co_return found.error();
    }
    if (!found.value() || !found.value()->visible()) {
        co_return not_found(response_id);
    }
    if (ctx.keys != nullptr) {
        auto key = std::static_pointer_cast<const keys::usable_key>(rc.principal);
        if (!key || key->id != found.value()->key_id) {
            co_return not_found(response_id);  // another key's response: as if there were none
        }
    }
    co_return std::move(*found.value());
}

/// The conversation an earlier response continues with: what it sent and what it answered.
net::awaitable<result<json>> previous_conversation(const context& ctx, http_server::request_context& rc,
                                                   responses_store* store, const std::string& response_id) {
    if (store == nullptr) {
        co_return make_error(errc::invalid_field, "previous_response_id cannot be used: " + std::string{no_store_hint});
    }
    auto found = co_await readable(ctx, rc, *store, response_id);
    if (!found) {
        co_return found.error();
    }
    auto& s = found.value();
    if (s.outcome.status != "completed" && s.outcome.status != "incomplete") {
        co_return make_error(errc::invalid_field, "previous_response_id '" + response_id +
                                                      "' cannot be continued: its status is " + s.outcome.status);
    }
    json history = std::move(s.messages);
    history.push_back(assistant_message(s.outcome));
    co_return history;
}

/// The reply to a background create once the broker took it: the Response object, queued. A
/// read right after it waits for the audit to store the request.
std::function<http_server::response(const request_message&)> queued_reply(responses_store* store, std::string model,
                                                                          json echo) {
    return [store, model = std::move(model), echo = std::move(echo)](const request_message& m) {
        store->note_queued(m.request_id);
        response_head h{m.request_id, m.received_at_ms / 1000, model, echo};
        response_outcome o;
        o.status = "queued";
        return http_server::json_response(http::status::ok, response_object(h, o));
    };
}

net::awaitable<void> handle_create(context& ctx, http_server::request_context& rc, responses_store* store) {
    auto parsed = parse_responses_request(rc.req.body());
    if (!parsed) {
        auto res = openai_error_response(parsed.error());
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto& r = parsed.value();
    if (!r.previous_response_id.empty()) {
        auto history = co_await previous_conversation(ctx, rc, store, r.previous_response_id);
        if (!history) {
            auto res = openai_error_response(history.error());
            co_await http_server::send(rc, std::move(res));
            co_return;
        }
        auto& messages = history.value();
        for (auto& m : r.msg.messages) {
            messages.push_back(std::move(m));
        }
        r.msg.messages = std::move(messages);
    }
    if (r.background && store == nullptr) {
        auto res = openai_error_response(
            make_error(errc::invalid_field, "background cannot be used: " + std::string{no_store_hint}));
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    name_tool_results(r.msg.messages);
    // Kept with the request (requests.extra in the audit): what GET and input_items answer from.
    r.msg.extra["responses"] = {{"echo", r.echo}, {"input", r.input_items}, {"store", r.store}};
    responses_reply_options o;
    o.stream = r.msg.stream;
    o.model = r.msg.model;
    o.echo = r.echo;
    if (store != nullptr && r.store) {
        o.on_finished = [store](const std::string& id) { store->note_finished(id); };
    }
    std::optional<background_relay> background;
    if (r.background) {
        background = background_relay{queued_reply(store, o.model, o.echo)};
    }
    auto renderer = make_responses_renderer(std::move(o));
    co_await relay_generation(ctx, rc, std::move(r.msg), *renderer, std::move(background));
}

/// "/v1/responses/{id}[/input_items]" -> id and whether input_items was asked for.
struct path_parts {
    std::string id;
    bool input_items = false;
    bool valid = false;
};

path_parts split_path(std::string_view target) {
    constexpr std::string_view prefix = "/v1/responses/";
    auto path = target.substr(0, target.find('?'));
    path_parts p;
    auto rest = path.substr(prefix.size());
    auto slash = rest.find('/');
    p.id = std::string{rest.substr(0, slash)};
    if (slash != std::string_view::npos) {
        if (rest.substr(slash) != "/input_items") {
            return p;
        }
        p.input_items = true;
    }
    p.valid = !p.id.empty();
    return p;
}

/// The value of `name` in the query string of `target` (no %-decoding: ids and numbers), or nullopt.
std::optional<std::string> query_param(std::string_view target, std::string_view name) {
    auto q = target.find('?');
    if (q == std::string_view::npos) {
        return std::nullopt;
    }
    auto query = target.substr(q + 1);
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return std::string{eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1)};
        }
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    }
    return std::nullopt;
}

/// GET /v1/responses/{id}/input_items: OpenAI's cursor list (after, limit 1-100 default 20,
/// order desc by default).
result<json> input_items_page(const stored_response& s, std::string_view target) {
    std::int64_t limit = 20;
    if (auto l = query_param(target, "limit")) {
        auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
        if (ec != std::errc{} || p != l->data() + l->size() || limit < 1 || limit > 100) {
            return fail("invalid_field", "limit must be an integer from 1 to 100");
        }
    }
    auto order = query_param(target, "order").value_or("desc");
    if (order != "asc" && order != "desc") {
        return fail("invalid_field", "order must be asc or desc");
    }
    json items = s.input_items.is_array() ? s.input_items : json::array();
    if (order == "desc") {
        std::reverse(items.begin(), items.end());
    }
    std::size_t from = 0;
    if (auto after = query_param(target, "after")) {
        while (from < items.size() && get_or<std::string>(items[from], "id", "") != *after) {
            ++from;
        }
        if (from == items.size()) {
            return fail("invalid_field", "after must be the id of an input item of this response");
        }
        ++from;
    }
    json data = json::array();
    for (std::size_t i = from; i < items.size() && data.size() < static_cast<std::size_t>(limit); ++i) {
        data.push_back(items[i]);
    }
    bool more = from + data.size() < items.size();
    json first = data.empty() ? json(nullptr) : data.front()["id"];
    json last = data.empty() ? json(nullptr) : data.back()["id"];
    return json{
        {"object", "list"}, {"data", std::move(data)}, {"first_id", first}, {"last_id", last}, {"has_more", more}};
}

/// A background generation still running: its text so far, from the stored chunks.
net::awaitable<result<stored_response>> with_text_so_far(responses_store& store, stored_response s) {
    if (!s.background || s.finished()) {
        co_return std::move(s);
    }
    auto chunks = co_await store.load_chunks(s.head.request_id);
    if (!chunks) {
        co_return chunks.error();
    }
    for (const auto& c : chunks.value()) {
        s.outcome.text += c.text;
    }
    if (chunks.value().empty()) {
        s.outcome.status = "queued";  // no token yet: waiting for a worker (or in its prefill)
    }
    co_return std::move(s);
}

http_server::response reply_of(result<json> r) {
    if (!r) {
        return openai_error_response(r.error());
    }
    return http_server::json_response(http::status::ok, r.value());
}

/// Why GET/DELETE of `p` cannot be answered on this server (no such route; no --responses-db),
/// checked in that order; nothing when it can.
std::optional<llmp::error> unanswerable(const path_parts& p, const responses_store* store) {
    if (!p.valid) {
        return make_error(errc::not_found, "no such route");
    }
    if (store == nullptr) {
        return make_error(errc::not_found, std::string{no_store_hint});
    }
    return std::nullopt;
}

net::awaitable<void> handle_get(context& ctx, http_server::request_context& rc, responses_store* store) {
    std::string_view target = rc.req.target();
    auto p = split_path(target);
    auto refused = unanswerable(p, store);
    const bool stream = !p.input_items && query_param(target, "stream").value_or("false") == "true";
    std::int64_t starting_after = -1;
    if (!refused && stream) {
        auto after = query_param(target, "starting_after");
        if (after) {
            auto [ptr, ec] = std::from_chars(after->data(), after->data() + after->size(), starting_after);
            if (ec != std::errc{} || ptr != after->data() + after->size() || starting_after < 0) {
                refused = make_error(errc::invalid_field, "starting_after must be a sequence number (0 or more)");
            }
        }
    }
    if (refused) {
        auto res = openai_error_response(*refused);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto found = co_await readable(ctx, rc, *store, p.id);
    if (stream && found && found.value().background) {
        stored_response s = std::move(found.value());
        co_await stream_background_response(ctx, rc, *store, std::move(s), starting_after);
        co_return;
    }
    result<json> body = json{};
    if (stream && found) {
        body = make_error(errc::invalid_field, "Only responses created with background can be streamed again.");
    } else if (!found) {
        body = found.error();
    } else if (p.input_items) {
        body = input_items_page(found.value(), target);
    } else {
        auto progressed = co_await with_text_so_far(*store, std::move(found.value()));
        body = progressed ? result<json>{response_object(progressed.value().head, progressed.value().outcome)}
                          : result<json>{progressed.error()};
    }
    auto res = reply_of(std::move(body));
    co_await http_server::send(rc, std::move(res));
}

/// POST /v1/responses/{id}/cancel: a running background generation gets the cancel a hang-up
/// sends (cancel.<id> on the control exchange); the worker stops and reports `cancelled`, which
/// the audit stores. The reply is the Response object once that is stored (or, after the
/// store's wait, as it stands). A finished one is answered as it is; only background responses
/// can be cancelled.
net::awaitable<void> handle_cancel(context& ctx, http_server::request_context& rc, responses_store* store) {
    std::string_view target = rc.req.target();
    auto path = target.substr(0, target.find('?'));
    constexpr std::string_view prefix = "/v1/responses/";
    constexpr std::string_view suffix = "/cancel";
    path_parts p;
    if (path.size() > prefix.size() + suffix.size() && path.ends_with(suffix)) {
        p.id = std::string{path.substr(prefix.size(), path.size() - prefix.size() - suffix.size())};
        p.valid = p.id.find('/') == std::string::npos;
    }
    if (auto refused = unanswerable(p, store)) {
        auto res = openai_error_response(*refused);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto found = co_await readable(ctx, rc, *store, p.id);
    result<json> body = json{};
    if (!found) {
        body = found.error();
    } else if (!found.value().background) {
        body = make_error(errc::invalid_field, "Only responses created with background can be cancelled.");
    } else if (found.value().finished()) {
        body = response_object(found.value().head, found.value().outcome);
    } else {
        std::string request_id = found.value().head.request_id;
        ctx.publisher->publish_cancel(request_id);
        ctx.metrics->cancel_published();
        api::logger()->info("msg=\"background request cancel published\" request_id={}", request_id);
        store->note_finished(request_id);  // the read below waits for the worker's `cancelled`
        auto after = co_await readable(ctx, rc, *store, p.id);
        if (!after) {
            body = after.error();
        } else {
            auto progressed = co_await with_text_so_far(*store, std::move(after.value()));
            body = progressed ? result<json>{response_object(progressed.value().head, progressed.value().outcome)}
                              : result<json>{progressed.error()};
        }
    }
    auto res = reply_of(std::move(body));
    co_await http_server::send(rc, std::move(res));
}

net::awaitable<void> handle_delete(const context& ctx, http_server::request_context& rc, responses_store* store) {
    auto p = split_path(rc.req.target());
    p.valid = p.valid && !p.input_items;  // input_items can be listed, not deleted
    if (auto refused = unanswerable(p, store)) {
        auto res = openai_error_response(*refused);
        co_await http_server::send(rc, std::move(res));
        co_return;
    }
    auto found = co_await readable(ctx, rc, *store, p.id);
    result<json> body = json{};
    if (!found) {
        body = found.error();
    } else {
        std::string request_id = found.value().head.request_id;
        auto removed = co_await store->remove(std::move(request_id));
        if (!removed) {
            body = removed.error();
        } else if (!removed.value()) {
            body = not_found(p.id);
        } else {
            body = json{{"id", p.id}, {"object", "response.deleted"}, {"deleted", true}};
        }
    }
    auto res = reply_of(std::move(body));
    co_await http_server::send(rc, std::move(res));
}

}  // namespace

void add_responses_routes(http_server::router& routes, context& ctx, responses_store* store) {
    routes.add(http::verb::post, "/v1/responses",
               [&ctx, store](http_server::request_context& rc) { return handle_create(ctx, rc, store); });
    routes.add(http::verb::get, "/v1/responses/*",
               [&ctx, store](http_server::request_context& rc) { return handle_get(ctx, rc, store); });
    routes.add(http::verb::post, "/v1/responses/*",
               [&ctx, store](http_server::request_context& rc) { return handle_cancel(ctx, rc, store); });
    routes.add(http::verb::delete_, "/v1/responses/*",
               [&ctx, store](http_server::request_context& rc) { return handle_delete(ctx, rc, store); });
}

}  // namespace llmp::api

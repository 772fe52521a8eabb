#include "api/native_streams.hpp"

#include "api/native_renderer.hpp"
#include "api/responses_resume.hpp"
#include "api/responses_store.hpp"
#include "common/errc.hpp"
#include "http/error_response.hpp"
#include "keys/api_key.hpp"

#include <charconv>
#include <string>

namespace llmp::api {
namespace {

constexpr std::string_view prefix = "/api/streams/";

llmp::error no_stream(std::string_view id) {
    return make_error(errc::not_found, "No resumable stream found with id '" + std::string{id} + "'.");
}

/// Answers a request that is not resumed: its own coroutine, so the reply is not a local of the
/// stream's frame.
net::awaitable<void> refuse(http_server::request_context& rc, const llmp::error& e) {
    auto res = http_server::error_response(e);  // named: g++ 12 and temporaries in co_await
    co_await http_server::send(rc, std::move(res));
}

/// Last-Event-ID as a number; 0 (every event) when absent.
result<std::int64_t> last_event_id(const http_server::request_context& rc) {
    auto h = rc.req.find("Last-Event-ID");
    if (h == rc.req.end()) {
        return std::int64_t{0};
    }
    auto v = h->value();
    std::int64_t n = -1;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || ptr != v.data() + v.size() || n < 0) {
        return make_error(errc::invalid_field, "Last-Event-ID must be an event id (0 or more)");
    }
    return n;
}

net::awaitable<void> handle_resume(context& ctx, http_server::request_context& rc, responses_store* store) {
    std::string_view target = rc.req.target();
    target = target.substr(0, target.find('?'));
    auto id = target.substr(prefix.size());
    if (store == nullptr) {
        co_await refuse(rc, make_error(errc::not_found,
                                       "resumable streams cannot be resumed on this server "
                                       "(start llmproxy api with --responses-db)"));
        co_return;
    }
    auto after = last_event_id(rc);
    if (!after) {
        co_await refuse(rc, after.error());
        co_return;
    }
    if (id.empty() || id.find('/') != std::string_view::npos) {
        co_await refuse(rc, no_stream(id));
        co_return;
    }
    auto found = co_await store->load(std::string{id}, stored_request_kind::resumable_stream);
    if (!found) {
        co_await refuse(rc, found.error());
        co_return;
    }
    bool readable = found.value().has_value();
    if (readable && ctx.keys != nullptr) {
        auto key = std::static_pointer_cast<const keys::usable_key>(rc.principal);
        readable = key && key->id == found.value()->key_id;  // another key's stream: as if none
    }
    if (!readable) {
        co_await refuse(rc, no_stream(id));
        co_return;
    }
    stored_response s = std::move(*found.value());
    resume_view v;
    // The kind shapes only a whole (non-streamed) reply: a streamed chat's and generate's
    // events are the same.
    v.renderer = make_native_renderer(request_kind::chat, true, true);
    v.kind = stored_request_kind::resumable_stream;
    v.numbering = event_numbering::by_id;
    v.after = after.value();
    co_await stream_resumed_generation(ctx, rc, *store, std::move(s), std::move(v));
}

}  // namespace

void add_native_stream_routes(http_server::router& routes, context& ctx, responses_store* store) {
    routes.add(http::verb::get, std::string{prefix} + "*",
               [&ctx, store](http_server::request_context& rc) { return handle_resume(ctx, rc, store); });
}

}  // namespace llmp::api

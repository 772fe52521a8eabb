// Client bytes at the HTTP listener: Beast's request parser with the limits our listener gives it
// (http/listener.cpp: server_limits' body limit, Beast's default header limit), fed the way a
// socket delivers (in slices), several requests per connection (keep-alive), then what the
// server reads off a parsed request: keep-alive, method, target, the route (404/405 text and
// Allow), and for a malformed head the target its read-error answer names.
#include "fuzz_check.hpp"

#include "common/errc.hpp"
#include "http/error_response.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

namespace {

using namespace llmp;

const http_server::router& api_routes() {
    static const http_server::router r = [] {
        http_server::router routes;
        for (const char* path : {"/api/chat", "/api/generate", "/v1/chat/completions", "/v1/completions",
                                 "/ollama/api/chat", "/ollama/api/generate"}) {
            routes.add(http::verb::post, path, {});
        }
        for (const char* path : {"/api/models", "/api/workers", "/healthz", "/readyz", "/metrics", "/v1/models",
                                 "/v1/models/*", "/ollama/api/tags", "/ollama/api/version", "/ollama", "/ollama/"}) {
            routes.add(http::verb::get, path, {});
        }
        return routes;
    }();
    return r;
}

/// Parses one request from the front of `rest` as http::async_read would, `step` bytes arriving
/// at a time. Removes what the parser consumed; false when no complete request came.
bool read_one(std::string_view& rest, std::size_t step) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(http_server::server_limits{}.body_limit);
    beast::error_code ec;
    std::size_t have = 0;  // bytes "received" and not yet consumed, at the front of `rest`
    bool need_more = true;
    while (!parser.is_done()) {
        // Like Beast's read_some: the parser never gets an empty buffer; more bytes arrive only
        // when it asks for them (or has consumed all it had).
        if (need_more || have == 0) {
            if (have == rest.size()) {  // the peer sent nothing more: it closed
                parser.put_eof(ec);
                break;
            }
            have = std::min(have + step, rest.size());
        }
        auto used = parser.put(net::buffer(rest.data(), have), ec);
        rest.remove_prefix(used);
        have -= used;
        need_more = ec == http::error::need_more;
        if (need_more) {
            ec = {};
        } else if (ec) {
            break;
        }
        // listener.cpp: a chunked body is refused once the head is read, before any chunk.
        if (parser.is_header_done() && !parser.is_done() && parser.chunked()) {
            ec = http::error::bad_transfer_encoding;
            break;
        }
    }
    if (ec || !parser.is_done()) {
        // listener.cpp: the answer to an unreadable request names its target when there is one.
        auto target = parser.get().target();
        (void)http_server::error_response(
            {"bad_request", "malformed HTTP request: " + ec.message() + " " + std::string{target}});
        return false;
    }
    auto req = parser.release();
    (void)req.keep_alive();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    http::status why{};
    if (api_routes().find(req.method(), path, why) == nullptr) {
        LLMP_FUZZ_CHECK(why == http::status::not_found || why == http::status::method_not_allowed,
                        "an unmatched request is neither 404 nor 405");
        (void)http_server::error_response(
            make_error(why == http::status::not_found ? errc::not_found : errc::method_not_allowed,
                       std::string{req.method_string()} + " " + std::string{path} +
                           " (allowed: " + api_routes().allowed(path) + ")"));
    }
    return req.keep_alive();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto input = fuzz::as_text(data, size);
    for (std::size_t step : {input.size() + 1, std::size_t{7}}) {
        std::string_view rest = input;
        for (int i = 0; i < 8 && !rest.empty() && read_one(rest, step); ++i) {
        }
    }
    return 0;
}

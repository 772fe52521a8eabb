#pragma once
// router: exact-path routing to handlers, with 404 for an unknown path and 405 (and Allow) for
// a known path with the wrong method. A path ending in "/*" matches everything below it
// (e.g. "/v1/models/*" for "/v1/models/{id}") when no exact path does; the longest wins.
// Built once at start-up, then read-only (any thread).

#include "http/server.hpp"

#include <boost/beast/http/verb.hpp>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace llmp::http_server {

class router {
public:
    router& add(http::verb method, std::string path, handler h);

    /// Replaces every handler added so far with wrapper(method, path, handler), and the handler
    /// of unmatched requests (404/405) with wrapper(verb::unknown, "", ...). For cross-cutting
    /// concerns such as request metrics; call it once the routes are added. The router must not
    /// move afterwards.
    using wrapper = std::function<handler(http::verb method, std::string_view path, handler inner)>;
    void wrap(const wrapper& w);

    /// The handler that serves every request: routes by ctx.req.
    net::awaitable<void> dispatch(request_context& ctx) const;

    /// Finds a route; nullptr with status 404/405 set when none matches.
    const handler* find(http::verb method, std::string_view path, http::status& why) const;
    std::string allowed(std::string_view path) const;

private:
    using route_map = std::map<std::string, std::vector<std::pair<http::verb, handler>>, std::less<>>;
    /// The exact route of `path`, else the longest "/*" route above it, else end().
    route_map::const_iterator match(std::string_view path) const;
    net::awaitable<void> reply_unmatched(request_context& ctx) const;

    handler unmatched_;  // empty = reply_unmatched
    route_map routes_;
};

}  // namespace llmp::http_server

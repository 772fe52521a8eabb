#include "http/router.hpp"

#include "common/errc.hpp"
#include "http/error_response.hpp"

namespace llmp::http_server {

router& router::add(http::verb method, std::string path, handler h) {
    routes_[std::move(path)].emplace_back(method, std::move(h));
    return *this;
}

router::route_map::const_iterator router::match(std::string_view path) const {
    if (auto it = routes_.find(path); it != routes_.end()) {
        return it;
    }
    auto best = routes_.end();
    for (auto it = routes_.begin(); it != routes_.end(); ++it) {
        std::string_view key = it->first;
        if (key.ends_with("/*") && path.size() > key.size() - 1 && path.starts_with(key.substr(0, key.size() - 1)) &&
            (best == routes_.end() || key.size() > best->first.size())) {
            best = it;
        }
    }
    return best;
}

const handler* router::find(http::verb method, std::string_view path, http::status& why) const {
    auto it = match(path);
    if (it == routes_.end()) {
        why = http::status::not_found;
        return nullptr;
    }
    for (const auto& [m, h] : it->second) {
        if (m == method || (method == http::verb::head && m == http::verb::get)) {
            return &h;
        }
    }
    why = http::status::method_not_allowed;
    return nullptr;
}

std::string router::allowed(std::string_view path) const {
    std::string out;
    auto it = match(path);
    if (it == routes_.end()) {
        return out;
    }
    for (const auto& [m, h] : it->second) {
        if (!out.empty()) {
            out += ", ";
        }
        out += std::string{http::to_string(m)};
    }
    return out;
}

void router::wrap(const wrapper& w) {
    for (auto& [path, list] : routes_) {
        for (auto& [method, h] : list) {
            h = w(method, path, std::move(h));
        }
    }
    handler inner =
        unmatched_ ? std::move(unmatched_) : handler{[this](request_context& ctx) { return reply_unmatched(ctx); }};
    unmatched_ = w(http::verb::unknown, "", std::move(inner));
}

net::awaitable<void> router::dispatch(request_context& ctx) const {
    std::string_view target = ctx.req.target();
    std::string_view path = target.substr(0, target.find('?'));
    http::status why{};
    if (const handler* h = find(ctx.req.method(), path, why)) {
        co_await (*h)(ctx);
        co_return;
    }
    if (unmatched_) {
        co_await unmatched_(ctx);
        co_return;
    }
    co_await reply_unmatched(ctx);
}

net::awaitable<void> router::reply_unmatched(request_context& ctx) const {
    std::string_view target = ctx.req.target();
    std::string_view path = target.substr(0, target.find('?'));
    http::status why{};
    find(ctx.req.method(), path, why);
    if (why == http::status::method_not_allowed) {
        std::string why_not = std::string{ctx.req.method_string()} + " is not allowed on " + std::string{path} +
                              " (allowed: " + allowed(path) + ")";
        auto res = error_response(make_error(errc::method_not_allowed, std::move(why_not)));
        res.set(http::field::allow, allowed(path));
        co_await send(ctx, std::move(res));
        co_return;
    }
    co_await send(ctx, error_response(make_error(errc::not_found, "no route for " + std::string{path})));
}

}  // namespace llmp::http_server

#include "monitor/host_guard.hpp"

#include "common/ascii.hpp"
#include "common/errc.hpp"

#include <algorithm>
#include <cctype>

namespace llmp::monitor {
namespace {

std::string lower(std::string_view s) {
    std::string out{s};
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

/// An allowed-hosts entry as Host headers spell it: IPv6 addresses in brackets.
std::string normalized_entry(std::string_view e) {
    auto s = lower(e);
    if (s.find(':') != std::string::npos && s.front() != '[') {
        return "[" + s + "]";
    }
    return s;
}

}  // namespace

std::optional<host_port> split_host_port(std::string_view a) {
    if (a.empty()) {
        return std::nullopt;
    }
    host_port out;
    if (a.front() == '[') {
        auto close = a.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        out.host = lower(a.substr(0, close + 1));
        auto rest = a.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || !all_digits(rest.substr(1))) {
                return std::nullopt;
            }
            out.port = std::string{rest.substr(1)};
        }
        return out;
    }
    auto colon = a.find(':');
    if (colon != std::string_view::npos) {
        if (!all_digits(a.substr(colon + 1))) {
            return std::nullopt;  // also a bare IPv6 address: a Host header brackets it
        }
        out.port = std::string{a.substr(colon + 1)};
        a = a.substr(0, colon);
    }
    if (a.empty() || a.find_first_of(" \t/@\\") != std::string_view::npos) {
        return std::nullopt;
    }
    out.host = lower(a);
    return out;
}

host_guard::host_guard(const std::vector<std::string>& allowed) {
    for (const auto& e : allowed) {
        if (e == "*") {
            any_ = true;
        } else if (!e.empty()) {
            allowed_.push_back(normalized_entry(e));
        }
    }
}

std::vector<std::string> host_guard::defaults(const std::string& listen_address) {
    std::vector<std::string> out{"localhost", "127.0.0.1", "[::1]"};
    if (!listen_address.empty() && listen_address != "0.0.0.0" && listen_address != "::" && listen_address != "[::]") {
        auto e = normalized_entry(listen_address);
        if (std::find(out.begin(), out.end(), e) == out.end()) {
            out.push_back(std::move(e));
        }
    }
    return out;
}

std::optional<error> host_guard::check_host(std::optional<std::string_view> host_header) const {
    if (any_) {
        return std::nullopt;
    }
    if (!host_header) {
        return make_error(errc::forbidden,
                          "the request has no Host header; this monitor answers only requests "
                          "addressed to one of its --allowed-hosts");
    }
    auto hp = split_host_port(*host_header);
    if (hp && std::find(allowed_.begin(), allowed_.end(), hp->host) != allowed_.end()) {
        return std::nullopt;
    }
    std::string name = hp ? hp->host : std::string{"(malformed)"};
    return make_error(errc::forbidden, "this monitor does not answer to the host name '" + name +
                                           "' (a DNS rebinding guard); if that is how you reach it, add it to "
                                           "--allowed-hosts (LLMPROXY_MONITOR_ALLOWED_HOSTS)");
}

std::optional<error> host_guard::check_origin(std::optional<std::string_view> origin,
                                              std::optional<std::string_view> host_header) {
    if (!origin) {
        return std::nullopt;
    }
    auto refuse = [] {
        return make_error(errc::forbidden,
                          "a cross-origin request may not change anything here: its Origin is not this monitor");
    };
    std::string_view o = *origin;
    std::string_view default_port;
    if (starts_with_nocase(o, "http://")) {
        o.remove_prefix(7);
        default_port = "80";
    } else if (starts_with_nocase(o, "https://")) {
        o.remove_prefix(8);
        default_port = "443";
    } else {
        return refuse();  // "null", or a scheme no page of ours is served over
    }
    if (!o.empty() && o.back() == '/') {
        o.remove_suffix(1);
    }
    auto from = split_host_port(o);
    auto to = host_header ? split_host_port(*host_header) : std::nullopt;
    if (!from || !to) {
        return refuse();
    }
    auto port_of = [&](const host_port& hp) { return hp.port.empty() ? std::string{default_port} : hp.port; };
    if (from->host != to->host || port_of(*from) != port_of(*to)) {
        return refuse();
    }
    return std::nullopt;
}

bool state_changing(std::string_view method) {
    return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

}  // namespace llmp::monitor

#pragma once
// host_guard: the monitor's defence against DNS rebinding and cross-site requests. A browser on
// a page of evil.example whose name was re-pointed at 127.0.0.1 sends `Host: evil.example`: a
// request whose Host is not one of the names this monitor is reached by is refused (403), so
// a rebound name reads nothing. A state-changing request (anything but GET, HEAD, OPTIONS: login,
// logout, key admin) whose Origin is present and is not this very host is refused too (403): a
// form or fetch from another site cannot log in, log out or create keys (the session cookie is
// SameSite=Strict as well; this is the second lock). A request without Origin (curl, scripts)
// is not a browser's cross-site request and passes.
//
// Allowed hosts are names or addresses without port ("localhost", "127.0.0.1", "[::1]",
// "monitor.example.com"); the port of Host is not compared (rebinding changes the name, not the
// port). "*" allows every Host (a reverse proxy in front checks it); the Origin check stays.
//
// Threading: immutable after construction; any thread.

#include "common/result.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::monitor {

/// Host and port of a Host header value or of an Origin's authority: "[::1]:8081" -> "[::1]",
/// "8081"; the host lower-cased. nullopt for an empty or malformed value.
struct host_port {
    std::string host;
    std::string port;  ///< empty when absent
};
std::optional<host_port> split_host_port(std::string_view authority);

class host_guard {
public:
    /// `allowed` as given by --allowed-hosts (names, addresses, IPv6 with or without brackets,
    /// or "*"); every entry lower-cased.
    explicit host_guard(const std::vector<std::string>& allowed);

    /// The default --allowed-hosts: localhost, 127.0.0.1, [::1] and the listen address unless
    /// it is a wildcard (0.0.0.0, ::).
    static std::vector<std::string> defaults(const std::string& listen_address);

    /// nullopt when `host_header` (absent: nullopt) names an allowed host; else a forbidden
    /// error that says which name to add to --allowed-hosts.
    std::optional<error> check_host(std::optional<std::string_view> host_header) const;

    /// nullopt when a state-changing request may go on: no Origin, or an Origin whose
    /// host and port are those of `host_header` (port defaulted by the Origin's scheme).
    /// Else forbidden. `origin` "null" (sandboxed frames, file:) is refused.
    static std::optional<error> check_origin(std::optional<std::string_view> origin,
                                             std::optional<std::string_view> host_header);

    bool any_host() const { return any_; }

private:
    std::vector<std::string> allowed_;
    bool any_ = false;
};

/// Whether `method` (upper case, as sent) changes state: anything but GET, HEAD and OPTIONS.
bool state_changing(std::string_view method);

}  // namespace llmp::monitor

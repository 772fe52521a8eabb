#pragma once
// session_store: the monitor's login sessions. A login (POST /api/login with an admin or viewer
// key) opens a session: an opaque random id (32 bytes from OpenSSL, base64url) that goes to the
// browser in an HttpOnly cookie and is kept here only as its SHA-256, with the hash of the key
// it was opened with and its expiry. The session carries no role: every request looks its key
// up in the key ring again, so a key revoked or changed in the database ends or changes every
// session opened with it within the ring's refresh (~1 s). Sessions live in this process's
// memory: a restart of the monitor logs everyone out (chosen over signed tokens, which would
// need a secret to keep and could not be ended by logout).
//
// Bounded: at most max_sessions (the oldest expiring first are dropped past it); expired ones
// are swept on every open.
//
// Threading: every member takes the mutex; any thread.

#include "common/mutex.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace llmp::monitor {

class session_store {
public:
    using clock = std::chrono::system_clock;

    session_store(std::chrono::seconds ttl, std::size_t max_sessions = 10000);

    /// Opens a session for the key with hash `key_hash`; returns its id (the cookie's value).
    std::string open(std::string key_hash, clock::time_point now = clock::now());
    /// The key hash of the live session `id`, or nullopt (unknown, expired, closed).
    std::optional<std::string> find(std::string_view id, clock::time_point now = clock::now()) const;
    /// Ends the session `id` (logout); unknown ids are ignored.
    void close(std::string_view id);
    std::size_t size() const;
    std::chrono::seconds ttl() const { return ttl_; }

private:
    struct session {
        std::string key_hash;
        clock::time_point expires;
    };
    void sweep(clock::time_point now) REQUIRES(mu_);

    const std::chrono::seconds ttl_;
    const std::size_t max_;
    mutable mutex mu_;
    std::map<std::string, session, std::less<>> by_id_hash_ GUARDED_BY(mu_);
};

/// The session cookie's name.
inline constexpr std::string_view session_cookie_name = "llmp_session";

/// The value of cookie `name` in a Cookie header ("a=1; llmp_session=xyz"), or nullopt.
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

/// The Set-Cookie value opening a session: HttpOnly; SameSite=Strict; Path=/; Max-Age=ttl, and
/// Secure when `secure`.
std::string session_set_cookie(std::string_view id, std::chrono::seconds ttl, bool secure);
/// The Set-Cookie value that deletes it (logout): empty value, Max-Age=0, same attributes.
std::string session_clear_cookie(bool secure);

}  // namespace llmp::monitor

#pragma once
// monitor_auth: who is asking the monitor (issue 14, item 5). With `--auth keys` every /api/
// route but /api/login and /api/logout needs an admin or viewer key (keys/api_key.hpp: key_role),
// sent as `Authorization: Bearer <key>` (scripts, curl) or through the session cookie a login
// set (the dashboard; session_store.hpp). A user key (the API's) is refused here: 403. Admins see
// everything; viewers see the numbers, never prompt or answer texts (viewer_redaction.hpp). With
// `--auth none` everyone is an admin (a loopback-only development setup; the Host/Origin checks
// of host_guard.hpp still apply).
//
// The keys come from a keys::key_ring that monitor_service reloads every second: a revoked key,
// and every session opened with it, stop working within ~1 s.
//
// Threading: const members are pure over the ring and the session store (both thread-safe);
// any thread.

#include "common/result.hpp"
#include "http/server.hpp"
#include "keys/api_key.hpp"
#include "monitor/config.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace llmp::keys {
class key_ring;
}

namespace llmp::monitor {

class session_store;

/// The credential behind a request.
struct principal {
    keys::key_role role = keys::key_role::admin;
    std::string key_name;  ///< empty with --auth none
};

/// A login's outcome: the new session's id (the cookie's value) and who it is.
struct login_session {
    std::string id;
    principal who;
};

class monitor_auth {
public:
    /// `ring` null = --auth none. Both must outlive this.
    monitor_auth(const keys::key_ring* ring, session_store& sessions, cookie_secure_mode secure);

    bool enabled() const { return ring_ != nullptr; }

    /// The admin or viewer behind `req`: its bearer key, else its session cookie. Errors:
    /// invalid_api_key (401: none, unknown, revoked, expired, or a session that ended),
    /// forbidden (403: a user key), db_unavailable (503: the keys were never loaded).
    result<principal> identify(const http_server::request& req) const;

    /// Opens a session for the admin or viewer key `key` (same errors as identify).
    result<login_session> login(std::string_view key);
    /// Ends the session of `req`'s cookie, if any.
    void logout(const http_server::request& req);

    /// Whether a Set-Cookie for `req` carries Secure: always/never as configured; auto when the
    /// request came over HTTPS to a TLS proxy in front (X-Forwarded-Proto: https, or an https
    /// Origin). The monitor itself serves plain HTTP.
    bool secure_cookie(const http_server::request& req) const;

    session_store& sessions() { return sessions_; }

private:
    result<principal> admit(const keys::usable_key* key, bool via_session) const;

    const keys::key_ring* ring_;
    session_store& sessions_;
    cookie_secure_mode secure_;
};

/// Whether `who` may read prompt and answer texts (admins only).
inline bool may_read_texts(const principal& who) {
    return who.role == keys::key_role::admin;
}

}  // namespace llmp::monitor

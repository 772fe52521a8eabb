#include "monitor/monitor_auth.hpp"

#include "common/ascii.hpp"
#include "common/errc.hpp"
#include "keys/key_ring.hpp"
#include "monitor/session_store.hpp"

namespace llmp::monitor {
namespace {

template <class Field>
std::optional<std::string_view> header(const http_server::request& req, Field f) {
    auto it = req.find(f);
    if (it == req.end()) {
        return std::nullopt;
    }
    return std::string_view{it->value()};
}

}  // namespace

monitor_auth::monitor_auth(const keys::key_ring* ring, session_store& sessions, cookie_secure_mode secure)
    : ring_{ring}, sessions_{sessions}, secure_{secure} {}

result<principal> monitor_auth::admit(const keys::usable_key* key, bool via_session) const {
    if (key == nullptr) {
        return fail(errc::invalid_api_key,
                    via_session ? "the session has ended (expired, logged out, or its key was revoked): log in again"
                                : "the key is not valid (unknown, revoked or expired)");
    }
    if (key->role == keys::key_role::user) {
        return fail(errc::forbidden, "the key '" + key->name +
                                         "' is a user key: it may call the API but not read the monitor; use an "
                                         "admin or viewer key (llmproxy keys create --role admin|viewer)");
    }
    return principal{key->role, key->name};
}

result<principal> monitor_auth::identify(const http_server::request& req) const {
    if (ring_ == nullptr) {
        return principal{};
    }
    if (!ring_->loaded()) {
        return fail(errc::db_unavailable, "the monitor could not load its keys from PostgreSQL yet (retrying)");
    }
    if (auto authorization = header(req, http::field::authorization)) {
        auto token = keys::bearer_token(*authorization);
        if (!token) {
            return fail(errc::invalid_api_key, "send the key as 'Authorization: Bearer <key>'");
        }
        return admit(ring_->find(*token).get(), false);
    }
    if (auto cookies = header(req, http::field::cookie)) {
        if (auto id = cookie_value(*cookies, session_cookie_name)) {
            auto hash = sessions_.find(*id);
            return admit(hash ? ring_->find_hash(*hash).get() : nullptr, true);
        }
    }
    return fail(errc::invalid_api_key,
                "the monitor needs an admin or viewer key: log in on the dashboard, or send 'Authorization: Bearer "
                "<key>'");
}

result<login_session> monitor_auth::login(std::string_view key) {
    if (ring_ == nullptr) {
        return login_session{{}, principal{}};
    }
    if (!ring_->loaded()) {
        return fail(errc::db_unavailable, "the monitor could not load its keys from PostgreSQL yet (retrying)");
    }
    auto found = ring_->find(key);
    auto who = admit(found.get(), false);
    if (!who) {
        return who.error();
    }
    return login_session{sessions_.open(keys::hash_key(key)), who.value()};
}

void monitor_auth::logout(const http_server::request& req) {
    if (auto cookies = header(req, http::field::cookie)) {
        if (auto id = cookie_value(*cookies, session_cookie_name)) {
            sessions_.close(*id);
        }
    }
}

bool monitor_auth::secure_cookie(const http_server::request& req) const {
    switch (secure_) {
        case cookie_secure_mode::always:
            return true;
        case cookie_secure_mode::never:
            return false;
        case cookie_secure_mode::automatic:
            break;
    }
    auto proto = header(req, std::string_view{"X-Forwarded-Proto"});
    auto origin = header(req, http::field::origin);
    return (proto && equals_nocase(*proto, "https")) || (origin && starts_with_nocase(*origin, "https://"));
}

}  // namespace llmp::monitor

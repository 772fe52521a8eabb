#include "monitor/session_store.hpp"

#include "keys/api_key.hpp"

#include <vector>

namespace llmp::monitor {

session_store::session_store(std::chrono::seconds ttl, std::size_t max_sessions) : ttl_{ttl}, max_{max_sessions} {}

std::string session_store::open(std::string key_hash, clock::time_point now) {
    auto id = keys::random_token(32);
    lock_guard lock{mu_};
    sweep(now);
    while (by_id_hash_.size() >= max_ && !by_id_hash_.empty()) {
        auto oldest = by_id_hash_.begin();
        for (auto it = by_id_hash_.begin(); it != by_id_hash_.end(); ++it) {
            if (it->second.expires < oldest->second.expires) {
                oldest = it;
            }
        }
        by_id_hash_.erase(oldest);
    }
    by_id_hash_[keys::hash_key(id)] = session{std::move(key_hash), now + ttl_};
    return id;
}

std::optional<std::string> session_store::find(std::string_view id, clock::time_point now) const {
    if (id.empty()) {
        return std::nullopt;
    }
    auto h = keys::hash_key(id);
    lock_guard lock{mu_};
    auto it = by_id_hash_.find(h);
    if (it == by_id_hash_.end() || it->second.expires <= now) {
        return std::nullopt;
    }
    return it->second.key_hash;
}

void session_store::close(std::string_view id) {
    auto h = keys::hash_key(id);
    lock_guard lock{mu_};
    by_id_hash_.erase(h);
}

std::size_t session_store::size() const {
    lock_guard lock{mu_};
    return by_id_hash_.size();
}

void session_store::sweep(clock::time_point now) {
    for (auto it = by_id_hash_.begin(); it != by_id_hash_.end();) {
        it = it->second.expires <= now ? by_id_hash_.erase(it) : std::next(it);
    }
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        auto semi = header.find(';');
        auto pair = header.substr(0, semi);
        header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
        while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) {
            pair.remove_prefix(1);
        }
        auto eq = pair.find('=');
        if (eq == std::string_view::npos || pair.substr(0, eq) != name) {
            continue;
        }
        auto v = pair.substr(eq + 1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
            v.remove_suffix(1);
        }
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
            v = v.substr(1, v.size() - 2);
        }
        return v;
    }
    return std::nullopt;
}

namespace {

std::string cookie_attributes(bool secure) {
    return std::string{"; Path=/; HttpOnly; SameSite=Strict"} + (secure ? "; Secure" : "");
}

}  // namespace

std::string session_set_cookie(std::string_view id, std::chrono::seconds ttl, bool secure) {
    return std::string{session_cookie_name} + "=" + std::string{id} + cookie_attributes(secure) +
           "; Max-Age=" + std::to_string(ttl.count());
}

std::string session_clear_cookie(bool secure) {
    return std::string{session_cookie_name} + "=" + cookie_attributes(secure) + "; Max-Age=0";
}

}  // namespace llmp::monitor

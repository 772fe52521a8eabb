#include "api/auth.hpp"

#include "api/logger.hpp"
#include "common/errc.hpp"
#include "keys/api_key.hpp"
#include "pg/connection.hpp"

#include <chrono>

namespace llmp::api {

void key_ring::replace(std::vector<keys::stored_key> keys) {
    auto next = std::make_shared<map>();
    next->reserve(keys.size());
    for (auto& k : keys) {
        auto hash = std::move(k.hash);
        next->emplace(std::move(hash), std::make_shared<const keys::usable_key>(std::move(k.key)));
    }
    lock_guard lock{mu_};
    keys_ = std::move(next);
}

std::shared_ptr<const keys::usable_key> key_ring::find(std::string_view plaintext) const {
    auto hash = keys::hash_key(plaintext);
    std::shared_ptr<const map> now;
    {
        lock_guard lock{mu_};
        now = keys_;
    }
    auto it = now->find(hash);
    if (it == now->end() || !keys::usable_at(*it->second, std::chrono::system_clock::now())) {
        return nullptr;
    }
    return it->second;
}

std::size_t key_ring::size() const {
    lock_guard lock{mu_};
    return keys_->size();
}

result<std::shared_ptr<const keys::usable_key>> authenticate(const key_ring& ring,
                                                             std::optional<std::string_view> authorization) {
    auto token = authorization ? keys::bearer_token(*authorization) : std::nullopt;
    if (!token) {
        return fail(errc::invalid_api_key,
                    "this server needs an API key: send the header 'Authorization: Bearer <key>'");
    }
    auto key = ring.find(*token);
    if (!key) {
        return fail(errc::invalid_api_key, "the API key is not valid (unknown, revoked or expired)");
    }
    return key;
}

std::optional<llmp::error> model_refusal(const keys::usable_key& key, std::string_view model) {
    if (!keys::model_allowed(key.allowed_models, model)) {
        return make_error(errc::model_not_allowed,
                          "the API key '" + key.name + "' may not use model '" + std::string{model} + "'");
    }
    return std::nullopt;
}

std::optional<llmp::error> auth_refusal(const key_ring* ring, std::optional<std::string_view> authorization,
                                        std::optional<std::string_view> model) {
    if (ring == nullptr) {
        return std::nullopt;
    }
    auto key = authenticate(*ring, authorization);
    if (!key) {
        return key.error();
    }
    if (model) {
        return model_refusal(*key.value(), *model);
    }
    return std::nullopt;
}

key_refresher::key_refresher(key_ring& ring, std::string url, std::chrono::milliseconds interval)
    : ring_{ring}, url_{std::move(url)}, interval_{interval} {}

result<std::unique_ptr<key_refresher>> key_refresher::start(key_ring& ring, std::string database_url,
                                                            std::chrono::milliseconds interval) {
    std::unique_ptr<key_refresher> r{new key_refresher{ring, std::move(database_url), interval}};
    if (auto first = r->load_once(); !first) {
        return first.error();
    }
    logger()->info("msg=\"api keys loaded\" keys={} refresh_ms={}", ring.size(), interval.count());
    r->thread_ = std::thread{[p = r.get()] { p->run(); }};
    return r;
}

key_refresher::~key_refresher() {
    {
        lock_guard lock{mu_};
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

result<void> key_refresher::load_once() {
    if (!conn_ || !conn_->healthy()) {
        conn_.reset();
        auto c = pg::connection::open(url_, 2, "llmproxy api keys");
        if (!c) {
            return c.error();
        }
        conn_ = std::move(c.value());
    }
    auto loaded = keys::load_usable_keys(*conn_);
    if (!loaded) {
        return loaded.error();
    }
    ring_.replace(std::move(loaded.value()));
    return ok();
}

void key_refresher::run() {
    unique_lock lock{mu_};
    while (!stop_) {
        cv_.wait_for(lock.native(), interval_);
        if (stop_) {
            break;
        }
        lock.unlock();
        auto r = load_once();
        if (!r) {
            ++failed_reloads_;
        }
        if (!r && !failing_) {
            failing_ = true;
            logger()->warn("msg=\"cannot reload api keys; serving the last loaded set\" code={} error=\"{}\"",
                           r.error().code, r.error().message);
        } else if (r && failing_) {
            failing_ = false;
            logger()->info("msg=\"api keys reloaded again\" keys={}", ring_.size());
        }
        lock.lock();
    }
}

}  // namespace llmp::api

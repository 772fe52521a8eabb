#include "keys/key_ring.hpp"

#include "common/logging.hpp"
#include "keys/api_key.hpp"
#include "pg/connection.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <system_error>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace llmp::keys {

void key_ring::replace(std::vector<stored_key> keys) {
    auto next = std::make_shared<map>();
    next->reserve(keys.size());
    for (auto& k : keys) {
        auto hash = std::move(k.hash);
        next->emplace(std::move(hash), std::make_shared<const usable_key>(std::move(k.key)));
    }
    lock_guard lock{mu_};
    keys_ = std::move(next);
    loaded_ = true;
}

std::shared_ptr<const usable_key> key_ring::find(std::string_view plaintext) const {
    return find_hash(hash_key(plaintext));
}

std::shared_ptr<const usable_key> key_ring::find_hash(const std::string& hash) const {
    std::shared_ptr<const map> now;
    {
        lock_guard lock{mu_};
        now = keys_;
    }
    auto it = now->find(hash);
    if (it == now->end() || !usable_at(*it->second, std::chrono::system_clock::now())) {
        return nullptr;
    }
    return it->second;
}

std::size_t key_ring::size() const {
    lock_guard lock{mu_};
    return keys_->size();
}

bool key_ring::loaded() const {
    lock_guard lock{mu_};
    return loaded_;
}

key_refresher::key_refresher(key_ring& ring, std::string url, std::chrono::milliseconds interval,
                             refresher_options options)
    : ring_{ring}, url_{std::move(url)}, interval_{interval}, options_{std::move(options)} {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        throw std::system_error{errno, std::generic_category(), "eventfd for the key refresher"};
    }
}

result<std::unique_ptr<key_refresher>> key_refresher::start(key_ring& ring, std::string database_url,
                                                            std::chrono::milliseconds interval,
                                                            refresher_options options) {
    std::unique_ptr<key_refresher> r{new key_refresher{ring, std::move(database_url), interval, std::move(options)}};
    auto log = llmp::log::get(r->options_.log_component);
    if (auto first = r->load_once(); !first) {
        if (r->options_.first_load_required) {
            return first.error();
        }
        r->failing_ = true;
        log->warn(
            "msg=\"cannot load {}; retrying every {} ms, refusing every credential meanwhile\" code={} "
            "error=\"{}\"",
            r->options_.what, interval.count(), first.error().code, first.error().message);
    } else {
        log->info("msg=\"{} loaded\" keys={} refresh_ms={}", r->options_.what, ring.size(), interval.count());
    }
    r->thread_ = std::thread{[p = r.get()] { p->run(); }};
    return r;
}

key_refresher::~key_refresher() {
    stop_.store(true);
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    if (thread_.joinable()) {
        thread_.join();
    }
    ::close(wake_fd_);
}

result<void> key_refresher::load_once() {
    if (!conn_ || !conn_->healthy()) {
        conn_.reset();
        auto c = pg::connection::open(url_, 2, options_.application_name);
        if (!c) {
            return c.error();
        }
        // Listening before the load: a change committed after it is announced, one before is
        // in the set loaded.
        if (auto l = c.value()->exec("LISTEN " + std::string{changed_channel}); !l) {
            return l.error();
        }
        conn_ = std::move(c.value());
    }
    auto loaded = load_usable_keys(*conn_);
    if (!loaded) {
        return loaded.error();
    }
    ring_.replace(std::move(loaded.value()));
    return ok();
}

void key_refresher::reload() {
    auto r = load_once();
    if (!r) {
        ++failed_reloads_;
    }
    if (!r && !failing_) {
        failing_ = true;
        llmp::log::get(options_.log_component)
            ->warn("msg=\"cannot reload {}; serving the last loaded set\" code={} error=\"{}\"", options_.what,
                   r.error().code, r.error().message);
    } else if (r && failing_) {
        failing_ = false;
        llmp::log::get(options_.log_component)->info("msg=\"{} reloaded again\" keys={}", options_.what, ring_.size());
    }
}

bool key_refresher::announced() {
    if (!conn_) {
        return false;
    }
    auto n = conn_->take_notifications();
    if (!n) {
        conn_.reset();
        return false;
    }
    return n.value() > 0;
}

void key_refresher::run() {
    using clock = std::chrono::steady_clock;
    auto due = clock::now() + interval_;
    while (!stop_.load()) {
        // Announcements that came in with the last load's answer are buffered already: the
        // socket would not wake the poll for them. A change committed during that load is one
        // of them, so it costs one more load rather than a wait for the interval.
        bool changed = announced();
        if (!changed) {
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - clock::now()).count();
            pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {conn_ ? conn_->socket() : -1, POLLIN, 0}};
            ::poll(fds, fds[1].fd >= 0 ? 2 : 1, static_cast<int>(std::clamp<std::int64_t>(wait, 0, 60'000)));
            if (stop_.load()) {
                break;
            }
            changed = fds[1].fd >= 0 && fds[1].revents != 0 && announced();
        }
        if (changed || clock::now() >= due) {
            reload();
            due = clock::now() + interval_;
        }
    }
}

}  // namespace llmp::keys

#include "api/fair_share.hpp"

#include <algorithm>
#include <utility>

namespace llmp::api {

fair_share::ticket::ticket(fair_share* owner, std::string key, bool lifted)
    : owner_{owner}, key_{std::move(key)}, lifted_{lifted} {}

fair_share::ticket::ticket(ticket&& o) noexcept
    : owner_{std::exchange(o.owner_, nullptr)}, key_{std::move(o.key_)}, lifted_{o.lifted_} {}

fair_share::ticket& fair_share::ticket::operator=(ticket&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
        key_ = std::move(o.key_);
        lifted_ = o.lifted_;
    }
    return *this;
}

fair_share::ticket::~ticket() {
    release();
}

void fair_share::ticket::release() {
    if (owner_ != nullptr) {
        owner_->close(key_);
        owner_ = nullptr;
    }
}

fair_share::ticket fair_share::open(const std::string& key_id) {
    bool lifted = false;
    {
        lock_guard lock{mu_};
        // Below the mean of the keys with open streams: mine * keys < total, in integers. A key
        // with no open stream is not among them, so a newcomer is below any positive mean.
        auto it = open_.find(key_id);
        const std::size_t mine = it == open_.end() ? 0 : it->second;
        lifted = !open_.empty() && mine * open_.size() < total_;
        ++open_[key_id];
        ++total_;
    }
    return ticket{this, key_id, lifted};
}

void fair_share::close(const std::string& key_id) {
    lock_guard lock{mu_};
    auto it = open_.find(key_id);
    if (it == open_.end()) {
        return;
    }
    --total_;
    if (--it->second == 0) {
        open_.erase(it);
    }
}

int fair_share::lifted_priority(int requested, int max_priority) {
    return std::min(requested + 1, max_priority);
}

std::size_t fair_share::open_streams(const std::string& key_id) const {
    lock_guard lock{mu_};
    auto it = open_.find(key_id);
    return it == open_.end() ? 0 : it->second;
}

}  // namespace llmp::api

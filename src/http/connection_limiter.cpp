#include "http/connection_limiter.hpp"

namespace llmp::http_server {

connection_limiter::verdict connection_limiter::admit(const std::string& address) {
    llmp::lock_guard lock{mu_};
    if (max_total_ > 0 && open_ >= max_total_) {
        return verdict::too_many;
    }
    if (max_per_address_ > 0) {
        auto& n = by_address_[address];
        if (n >= max_per_address_) {
            return verdict::too_many_from_address;
        }
        ++n;
    }
    ++open_;
    return verdict::admitted;
}

void connection_limiter::release(const std::string& address) {
    llmp::lock_guard lock{mu_};
    --open_;
    if (max_per_address_ > 0) {
        // Erased at zero: the map holds only addresses with a connection open, so a scan from
        // many addresses cannot grow it.
        if (auto it = by_address_.find(address); it != by_address_.end() && --it->second <= 0) {
            by_address_.erase(it);
        }
    }
}

std::int64_t connection_limiter::open() const {
    llmp::lock_guard lock{mu_};
    return open_;
}

std::int64_t connection_limiter::open_from(const std::string& address) const {
    llmp::lock_guard lock{mu_};
    auto it = by_address_.find(address);
    return it == by_address_.end() ? 0 : it->second;
}

}  // namespace llmp::http_server

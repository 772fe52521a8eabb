#include "api/background_bindings.hpp"

#include "broker/background_keys.hpp"
#include "broker/connection.hpp"

#include <vector>

namespace llmp::api {

background_bindings::background_bindings(std::string queue, std::string exchange, runner run)
    : queue_{std::move(queue)}, exchange_{std::move(exchange)}, run_{std::move(run)} {}

void background_bindings::bind(const std::string& request_id, std::function<void()> bound) {
    {
        llmp::lock_guard lock{mu_};
        ++listeners_[request_id];
    }
    // Bound again even when another listener bound it: that job may still be queued, and
    // binding twice is a no-op for the broker.
    run_([this, key = broker::background_binding(request_id),
          bound = std::move(bound)](broker::connection& c) -> result<void> {
        auto r = c.bind_queue(queue_, exchange_, key);
        if (r) {
            bound();
        }
        return r;
    });
}

void background_bindings::unbind(const std::string& request_id) {
    {
        llmp::lock_guard lock{mu_};
        auto it = listeners_.find(request_id);
        if (it == listeners_.end() || --it->second > 0) {
            return;
        }
        listeners_.erase(it);
    }
    run_([this, request_id](broker::connection& c) -> result<void> {
        {
            llmp::lock_guard lock{mu_};
            if (listeners_.contains(request_id)) {
                return ok();  // bound again meanwhile: that bind job follows this one
            }
        }
        return c.unbind_queue(queue_, exchange_, broker::background_binding(request_id));
    });
}

result<void> background_bindings::bind_all(broker::connection& c) {
    std::vector<std::string> ids;
    {
        llmp::lock_guard lock{mu_};
        for (const auto& [id, n] : listeners_) {
            ids.push_back(id);
        }
    }
    for (const auto& id : ids) {
        if (auto r = c.bind_queue(queue_, exchange_, broker::background_binding(id)); !r) {
            return r;
        }
    }
    return ok();
}

}  // namespace llmp::api

#include "broker/reconnect.hpp"

#include "broker/logger.hpp"

#include <poll.h>

#include <algorithm>

namespace llmp::broker {

std::unique_ptr<connection> reconnect_once(const broker_config& cfg, std::string_view role, std::string_view name,
                                           const std::function<result<void>(connection&)>& set_up) {
    auto log = broker::logger();
    auto c = connection::open(cfg, name);
    if (!c) {
        log->debug("msg=\"reconnect failed\" {}={} error=\"{}\"", role, name, c.error().message);
        return nullptr;
    }
    if (auto s = set_up(*c.value()); !s) {
        log->warn("msg=\"broker setup failed\" {}={} error=\"{}\"", role, name, s.error().message);
        return nullptr;
    }
    log->info("msg=\"reconnected to RabbitMQ\" {}={} node={}", role, name, c.value()->node());
    return std::move(c.value());
}

void run_connection_loop(const broker_config& cfg, std::unique_ptr<connection> first, const std::atomic<bool>& stopping,
                         const connection_loop_hooks& hooks) {
    std::unique_ptr<connection> conn = std::move(first);
    auto backoff = cfg.reconnect_min;
    while (!stopping) {
        if (!conn) {
            pollfd pfd{hooks.wake_fd, POLLIN, 0};
            ::poll(&pfd, 1, static_cast<int>(backoff.count()));
            hooks.while_down();
            if (stopping) {
                break;
            }
            conn = reconnect_once(cfg, hooks.role, hooks.name, hooks.set_up);
            if (!conn) {
                backoff = std::min(backoff * 2, cfg.reconnect_max);
                continue;
            }
            backoff = cfg.reconnect_min;
            hooks.on_state(true);
            continue;
        }
        hooks.serve(*conn);
        if (!stopping) {
            // serve() returns early only when the connection broke.
            conn.reset();
            hooks.on_state(false);
        }
    }
}

}  // namespace llmp::broker

#include "broker/reconnect.hpp"

#include "broker/logger.hpp"

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
    log->info("msg=\"reconnected to RabbitMQ\" {}={}", role, name);
    return std::move(c.value());
}

}  // namespace llmp::broker

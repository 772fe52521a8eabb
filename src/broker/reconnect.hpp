#pragma once
// One reconnect attempt of a broker thread (publisher or consumer): open a connection and set
// it up, logging why it failed. The threads keep their own backoff and state; this is the part
// they share.

#include "broker/connection.hpp"

#include <functional>
#include <memory>
#include <string_view>

namespace llmp::broker {

/// Opens a connection for `role` ("publisher", "consumer") `name` and runs `set_up` on it.
/// Returns it, logging "reconnected"; or nullptr, logging the reason (a refused connection at
/// debug level: it repeats every backoff while the broker is down).
std::unique_ptr<connection> reconnect_once(const broker_config& cfg, std::string_view role, std::string_view name,
                                           const std::function<result<void>(connection&)>& set_up);

}  // namespace llmp::broker

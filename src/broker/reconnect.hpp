#pragma once
// The connection loop of a broker thread (publisher or consumer): serve the connection while it
// holds; when it breaks, say so and reconnect with backoff (cfg.reconnect_min doubling to
// cfg.reconnect_max), running the thread's setup on every new connection, until it stops. The
// threads supply what differs (how to serve, what to do with work queued while down, what a
// state change means to them) as hooks; the loop is written once here.
//
// Threading: run_connection_loop runs on the owning thread and calls every hook there.

#include "broker/connection.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>

namespace llmp::broker {

/// Opens a connection for `role` ("publisher", "consumer") `name` and runs `set_up` on it.
/// Returns it, logging "reconnected"; or nullptr, logging the reason (a refused connection at
/// debug level: it repeats every backoff while the broker is down).
std::unique_ptr<connection> reconnect_once(const broker_config& cfg, std::string_view role, std::string_view name,
                                           const std::function<result<void>(connection&)>& set_up);

struct connection_loop_hooks {
    std::string_view role;  ///< "publisher", "consumer" (for logs)
    std::string_view name;
    std::function<result<void>(connection&)> set_up;
    /// The thread's queue's eventfd: a wait for the next attempt ends early when work arrives.
    int wake_fd = -1;
    /// Serves `conn` until it breaks or the thread is stopping.
    std::function<void(connection& conn)> serve;
    /// After each wait while disconnected: settle what was queued meanwhile (refuse it).
    std::function<void()> while_down;
    /// After a reconnect (true, before serving it) and after the connection broke (false).
    std::function<void(bool connected)> on_state;
};

/// Runs the loop described above from `first` (a connection already set up) until `stopping`.
void run_connection_loop(const broker_config& cfg, std::unique_ptr<connection> first, const std::atomic<bool>& stopping,
                         const connection_loop_hooks& hooks);

}  // namespace llmp::broker

#pragma once
// background_bindings: the `bg.<request id>.#` bindings of this API server's response queue,
// one per background generation it relays right now (a resumed stream). A background
// generation's chunks, final and error reach no server by default (broker/background_keys.hpp);
// binding makes the broker copy them to this server's queue too, where the response router
// hands them to the stream's sink like any other (request id -> sink).
//
// The consumer thread owns the AMQP connection: bind() and unbind() hand it a job
// (broker::consumer::run_with_connection), carried out in order, so an unbind followed by a
// bind of the same id ends bound. Several streams of one id on this server share the binding
// (counted). The consumer's setup calls bind_all() on every (re)connect: the server's queue is
// exclusive and dies with the connection, and its bindings with it.
//
// Thread-safety: bind/unbind from any thread; bind_all on the consumer thread. The mutex guards
// the counts only and is never held across I/O.

#include "common/mutex.hpp"
#include "common/result.hpp"

#include <functional>
#include <string>
#include <unordered_map>

namespace llmp::broker {
class connection;
}

namespace llmp::api {

class background_bindings {
public:
    using connection_job = std::function<result<void>(broker::connection&)>;
    /// Runs a job on the consumer thread with its connection; drops it while disconnected.
    using runner = std::function<void(connection_job)>;

    background_bindings(std::string queue, std::string exchange, runner run);

    /// One more listener of `request_id`'s generation. `bound` runs on the consumer thread once
    /// the binding is in place; never if the connection is down (the caller gives up in time).
    void bind(const std::string& request_id, std::function<void()> bound);
    /// One listener fewer; the binding goes with the last.
    void unbind(const std::string& request_id);
    /// Every binding again, on a new connection (consumer thread, from its setup).
    result<void> bind_all(broker::connection& c);

private:
    const std::string queue_;
    const std::string exchange_;
    const runner run_;
    llmp::mutex mu_;
    std::unordered_map<std::string, int> listeners_ GUARDED_BY(mu_);
};

}  // namespace llmp::api

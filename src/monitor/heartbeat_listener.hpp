#pragma once
// heartbeat_listener: a broker::consumer thread (its own AMQP connection) on an exclusive,
// auto-delete queue bound to `<prefix>.control` / worker.heartbeat (no-ack: a lost heartbeat is
// replaced 2 s later), feeding live_workers. It declares only the control exchange, never the
// shared queues, so the monitor cannot disagree with the other processes about queue arguments.
//
// Lifecycle: constructed by monitor_service; start() returns at once: a starter thread connects
// (retrying every 2 s while the broker is unreachable, so the database views work without it),
// then the consumer thread reconnects by itself. stop() joins both.

#include "broker/config.hpp"
#include "broker/consumer.hpp"
#include "common/mutex.hpp"
#include "monitor/live_workers.hpp"

#include <condition_variable>
#include <memory>
#include <thread>

namespace llmp::monitor {

class heartbeat_listener {
public:
    heartbeat_listener(const broker::broker_config& cfg, live_workers& workers);
    ~heartbeat_listener();

    void start();
    void stop();
    bool connected() const;

private:
    broker::broker_config cfg_;
    live_workers& workers_;
    std::unique_ptr<broker::consumer> consumer_;
    llmp::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ GUARDED_BY(mu_) = false;
    std::thread starter_;
};

}  // namespace llmp::monitor

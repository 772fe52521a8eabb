#pragma once
// backlog_sampler: how many messages wait in the audit queues, for Prometheus. The queues are
// bounded (broker/topology.cpp); before they fill and publishers get refused, an operator
// wants to know: llmproxy_audit_queue_messages{queue} and llmproxy_audit_backlog_alarm (1 while
// any audit queue holds `alarm_messages` ready messages or more).
//
// Threading: one thread of its own with its own AMQP connection (passive declares on a
// throwaway channel, every `interval`), so a slow or lost broker never delays the consumer or
// the writer. While RabbitMQ is unreachable the last values stay and it reconnects on the next
// sample. Lifecycle: start() / stop() (joins), by audit_service.

#include "broker/config.hpp"
#include "common/mutex.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace llmp::broker {
class connection;
}

namespace llmp::audit {

struct audit_metrics;

class backlog_sampler {
public:
    struct queue {
        std::string label;  ///< "requests" | "responses"
        std::string name;   ///< <p>.audit.requests ...
    };

    backlog_sampler(broker::broker_config cfg, std::vector<queue> queues, std::chrono::milliseconds interval,
                    std::int64_t alarm_messages, audit_metrics& metrics);
    ~backlog_sampler();
    backlog_sampler(const backlog_sampler&) = delete;
    backlog_sampler& operator=(const backlog_sampler&) = delete;

    void start();
    void stop();

private:
    void run();
    /// The deepest audit queue's ready messages (gauges updated), or -1 when RabbitMQ did not
    /// answer (`conn` then reset).
    std::int64_t sample(std::unique_ptr<broker::connection>& conn);

    broker::broker_config cfg_;
    std::vector<queue> queues_;
    std::chrono::milliseconds interval_;
    std::int64_t alarm_messages_;
    audit_metrics& metrics_;
    llmp::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ GUARDED_BY(mu_) = false;
    std::thread thread_;
};

}  // namespace llmp::audit

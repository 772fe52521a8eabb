#pragma once
// Broker configuration, shared by every process that talks to RabbitMQ.

#include <chrono>
#include <cstdint>
#include <string>

namespace llmp::broker {

struct broker_config {
    /// amqp://user:pass@host:port/vhost (env LLMPROXY_AMQP_URL), or several, comma separated:
    /// the nodes of one cluster. Each connection goes to the next node of the list in turn and,
    /// when its node goes, reconnects to the first of the others that answers (connection.hpp).
    std::string url = "amqp://guest:guest@127.0.0.1:5672/";
    /// Type of the shared durable queues (work, audit, dead): "classic" or "quorum"
    /// (replicated over the cluster's nodes; no priorities on RabbitMQ before 3.12, see
    /// topology.hpp). Fixed once a queue exists. Per-process queues are always classic.
    std::string queue_type = "classic";
    /// Prefix of every exchange and queue name (design.md: default "llm").
    std::string prefix = "llm";
    /// AMQP heartbeat, seconds; a dead broker is noticed within about twice this.
    int heartbeat_s = 10;
    /// Reconnect backoff bounds.
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{5000};
    /// Bound of each work queue (one per model; x-max-length, reject-publish): past it a request
    /// gets 503.
    std::int64_t work_queue_max_length = 100000;
    /// Bound of each audit queue (x-max-length, reject-publish): past it a publish routed there
    /// is nacked (the API answers 503 queue_full; a worker retries its final) rather than the
    /// record dropped. 0 = unbounded. Fixed once the queue exists (topology.hpp).
    std::int64_t audit_queue_max_length = 1000000;
    /// Priority levels of the work queues (x-max-priority; classic queues only). Fixed once a
    /// queue exists.
    int max_priority = 9;
};

/// The parts of an AMQP URL.
struct amqp_endpoint {
    std::string host = "127.0.0.1";
    int port = 5672;
    std::string user = "guest";
    std::string password = "guest";
    std::string vhost = "/";
};

}  // namespace llmp::broker

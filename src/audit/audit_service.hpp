#pragma once
// audit_service: the `llmproxy audit` process, assembled. Owns
//   - a consumer thread (broker::consumer, one AMQP connection): the durable queues
//     <p>.audit.requests and <p>.audit.responses with manual acks and prefetch, plus an
//     exclusive queue bound to worker.heartbeat on <p>.control (no-ack: only the newest matters).
//     It decodes each delivery (record.hpp) and hands it to the intake, in order;
//   - the pg_writer thread (the only user of the PGconn): batches, one transaction per batch,
//     acks after COMMIT through the consumer;
//   - a publisher thread (confirm mode) used only to dead-letter malformed messages to
//     <p>.dead with an x-reason header.
// With cfg.audit_chunks the response audit queue is also bound to "*.chunks"/"*.chunk" (and unbound
// again when it is off), on every (re)connect.
//
// Lifecycle (main thread): construct -> start() -> wait for SIGTERM -> stop(): the writer
// writes and acks what it holds, then the consumer closes (anything unacked is requeued by the
// broker), then the publisher.

#include "audit/config.hpp"
#include "audit/pg_writer.hpp"
#include "common/result.hpp"
#include "metrics/registry.hpp"

#include <memory>

namespace llmp::audit {

class audit_service {
public:
    explicit audit_service(audit_config cfg);
    ~audit_service();
    audit_service(const audit_service&) = delete;
    audit_service& operator=(const audit_service&) = delete;

    /// Connects to RabbitMQ and starts the threads. PostgreSQL may still be down: the writer
    /// retries in the background (and applies migrations once it connects).
    result<void> start();
    void stop();

    writer_stats stats() const;
    void reset_lag();
    /// This service's metrics, for an exporter (programs/audit.cpp serves them).
    const metrics::registry& metrics_registry() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::audit

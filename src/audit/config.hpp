#pragma once
// Audit service configuration. Filled by programs/audit.cpp from flags and LLMPROXY_* variables.

#include "broker/config.hpp"
#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace llmp::audit {

struct audit_config {
    broker::broker_config broker;
    /// libpq connection string or URI (env LLMPROXY_DATABASE_URL).
    std::string database_url = "postgresql://postgres@127.0.0.1:5432/llmproxy";
    /// A batch is written when it holds this many rows...
    int batch_rows = 2000;
    /// ...or when its oldest row has waited this long.
    std::chrono::milliseconds batch_time{50};
    /// Unacked deliveries per audit queue (AMQP prefetch). Bounds the memory the service
    /// holds while PostgreSQL is down; keep it >= batch_rows so batches can fill.
    int prefetch = 4000;
    /// An API server that confirms deliveries (api --delivery-confirm-ms) and has sent nothing
    /// for this long is judged lost: the worker reports of its requests it never confirmed
    /// become error `api_lost` (audit/api_loss.hpp). 0 = never judge.
    std::chrono::milliseconds api_lost_after{10000};
    /// Store every chunk with its arrival time (binds "*.chunks" and "*.chunk" to the response audit queue).
    bool audit_chunks = false;
    /// Store requests' images as sent (base64); by default each is stored as its SHA-256 and
    /// size (audit/image_digest.hpp).
    bool image_bytes = false;
    /// PostgreSQL reconnect backoff bounds.
    std::chrono::milliseconds retry_min{200};
    std::chrono::milliseconds retry_max{2000};
    /// libpq connect_timeout, seconds.
    int connect_timeout_s = 5;
    /// On SIGTERM, how long the writer may take to flush what it holds.
    std::chrono::milliseconds drain_timeout{10000};
    /// How often the backlog sampler reads the audit queues' depths (passive declares).
    std::chrono::milliseconds backlog_interval{5000};
    /// llmproxy_audit_backlog_alarm is 1 while an audit queue holds this many ready messages
    /// (0 = never). Keep it well under broker.audit_queue_max_length.
    std::int64_t backlog_alarm_messages = 100000;
    /// How often the writer logs ingest figures (rows, lag) when it committed anything.
    std::chrono::milliseconds stats_interval{10000};
    /// Days of requests, responses and chunks kept (0 = forever); audit/retention.hpp.
    int retention_days = 0;
    /// Days of the rollups' minute rows kept (0 = forever; the hour rows stay forever).
    int rollup_retention_days = 0;
    /// How often the retention pass runs.
    std::chrono::milliseconds retention_interval{600000};

    result<void> validate() const;
};

}  // namespace llmp::audit

#pragma once
// audit_metrics: what the audit service counts for Prometheus.
//   llmproxy_audit_rows_stored_total{table}      rows committed: requests, responses,
//                                                response_chunks, workers (heartbeat upserts)
//   llmproxy_audit_batch_rows                    rows per committed transaction (histogram)
//   llmproxy_audit_lag_seconds                   event time (publish) -> COMMIT, per row (histogram)
//   llmproxy_audit_dead_letters_total            messages dead-lettered (malformed or refused)
//   llmproxy_audit_redeliveries_total            deliveries the broker marked redelivered
//   llmproxy_audit_database_failures_total       failed batch transactions (retried)
//   llmproxy_audit_database_up                   1 while the writer's PostgreSQL connection works
//   llmproxy_audit_queue_messages{queue}         ready messages in <p>.audit.requests / .responses
//                                                (backlog_sampler, every --backlog-sample-ms)
//   llmproxy_audit_backlog_alarm                 1 while an audit queue holds --backlog-alarm
//                                                messages or more (they are bounded: see topology)
//
// Built by audit_service with its registry; every child exists from the start. Updated from
// the consumer thread (redeliveries), the backlog sampler (queue gauges) and the writer thread
// (the rest); lock-free.

#include "metrics/registry.hpp"

namespace llmp::audit {

struct audit_metrics {
    explicit audit_metrics(metrics::registry& reg)
        : rows_family{reg.counters("llmproxy_audit_rows_stored_total",
                                   "Rows committed to PostgreSQL, by table (a redelivered row counts again).",
                                   {"table"})},
          requests{rows_family.with({"requests"})},
          responses{rows_family.with({"responses"})},
          chunks{rows_family.with({"response_chunks"})},
          workers{rows_family.with({"workers"})},
          batch_rows{
              reg.histograms("llmproxy_audit_batch_rows", "Rows per committed transaction.", metrics::buckets::sizes())
                  .get()},
          lag{reg.histograms("llmproxy_audit_lag_seconds",
                             "Time from an event (request received, response completed, chunk published) to the "
                             "COMMIT that stored it.",
                             metrics::buckets::latency_long())
                  .get()},
          dead_letters{reg.counter_metric("llmproxy_audit_dead_letters_total",
                                          "Messages dead-lettered (malformed, or refused by PostgreSQL).")},
          redeliveries{
              reg.counter_metric("llmproxy_audit_redeliveries_total", "Deliveries the broker marked as redelivered.")},
          database_failures{reg.counter_metric("llmproxy_audit_database_failures_total",
                                               "Batch transactions that failed (and were retried).")},
          database_up{reg.gauge_metric("llmproxy_audit_database_up",
                                       "1 while the writer's PostgreSQL connection works, else 0.")},
          queue_messages{reg.gauges("llmproxy_audit_queue_messages",
                                    "Ready messages waiting in an audit queue (sampled).", {"queue"})},
          backlog_alarm{reg.gauge_metric("llmproxy_audit_backlog_alarm",
                                         "1 while an audit queue holds --backlog-alarm messages or more, else 0.")} {
        queue_messages.with({"requests"});
        queue_messages.with({"responses"});
    }

    metrics::family<metrics::counter>& rows_family;
    metrics::counter& requests;
    metrics::counter& responses;
    metrics::counter& chunks;
    metrics::counter& workers;
    metrics::histogram& batch_rows;
    metrics::histogram& lag;
    metrics::counter& dead_letters;
    metrics::counter& redeliveries;
    metrics::counter& database_failures;
    metrics::gauge& database_up;
    metrics::family<metrics::gauge>& queue_messages;
    metrics::gauge& backlog_alarm;
};

}  // namespace llmp::audit

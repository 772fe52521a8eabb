#pragma once
// The broker topology of design.md, routed by model, in one place:
//
//   <p>.requests  fanout  -> <p>.audit.requests  (bounded, reject-publish, DLX <p>.dead)
//                         => <p>.work (exchange-to-exchange binding)
//   <p>.work      direct  -> <p>.work.<model key> (one per model; bounded, reject-publish,
//                            priority, DLX <p>.dead; key = the normalized model name)
//                 alternate-exchange <p>.work.unrouted (fanout) -> <p>.requests.work
//   <p>.responses topic   -> <p>.responses.<server-id>  (exclusive, auto-delete, "<server-id>.#")
//                         -> <p>.audit.responses        ("*.final", "*.error", and "*.chunks" +
//                                                         "*.chunk" with chunk audit; bounded like
//                                                         <p>.audit.requests)
//   <p>.control   topic   -> per-consumer exclusive queues (worker.heartbeat, cancel.*, discover)
//   <p>.dead      fanout  -> <p>.dead
//
// A request is published to <p>.requests with its model's key (model_key()). A model queue is
// declared by the workers that serve the model (declare_model_queue(), before they announce it)
// and is never deleted by llmproxy: requests wait there for a worker until their TTL. What the
// work exchange cannot route (no queue for that key) goes to <p>.requests.work, the single work
// queue of earlier versions: every worker consumes it and runs what it serves (answering
// model_not_found otherwise), which also drains what an upgrade left there.
//
// Queue type (broker_config::queue_type): "classic" (the default) or "quorum". Quorum makes the
// shared durable queues (the work queues, both audit queues, <p>.dead) Raft-replicated over the
// cluster's nodes: a message confirmed to a publisher survives the loss of a minority of nodes,
// and consumers carry on from another node. The per-process queues (each API server's
// <p>.responses.<server-id>, the control queues) stay exclusive, auto-delete classic queues:
// they live on the node their process is connected to, die with it, and are declared again
// on the node it reconnects to. What changes with quorum:
//   - priorities: RabbitMQ 3.10 (Debian 12) quorum queues take no x-max-priority and deliver in
//     FIFO order; a request's priority is still carried on the message but ignored by the queue
//     (3.12+ would order it in two levels, 0-4 and 5+): requests of one model are served in
//     arrival order whatever their priority, so the API's fair share between keys
//     (api/fair_share.cpp, a lift of one priority level) has no effect there;
//   - a consumer of a quorum queue cannot share one channel-wide prefetch (global basic.qos),
//     so a worker gives each model queue its own --concurrency budget;
//   - dead-lettering (expired or rejected requests into <p>.dead) is at-most-once;
//   - x-max-length with reject-publish works as on classic queues.
// A queue keeps its type: switching needs the queues deleted (drained) first; until then a
// declare with the other type fails (the audit queues are kept as they are, with a warning).
//
// declare_core() is idempotent; every process calls it on each (re)connect, so whichever starts
// first creates the topology. Queue arguments are fixed once a queue exists (RabbitMQ refuses a
// redeclare with other arguments), so they live here and nowhere else. The audit queues are
// the exception that is tolerated: one found with other arguments (an upgrade from before
// their bound) is kept as it is, with a warning, instead of failing every process.

#include "broker/config.hpp"
#include "common/result.hpp"

#include <string>
#include <string_view>

namespace llmp::broker {

class connection;

struct topology {
    explicit topology(const std::string& prefix);

    std::string requests_exchange;
    std::string responses_exchange;
    std::string control_exchange;
    std::string dead_exchange;
    /// Direct exchange keyed by model; bound to requests_exchange.
    std::string work_exchange;
    /// Fanout: the work exchange's alternate exchange, into work_queue.
    std::string unrouted_exchange;
    /// <p>.requests.work: requests no model queue took (see above), and an upgrade's leftovers.
    std::string work_queue;
    std::string audit_requests_queue;
    std::string audit_responses_queue;
    std::string dead_queue;

    /// The response queue of one API server.
    std::string server_queue(std::string_view server_id) const;

    /// The routing key of a model's requests on the work exchange: its normalized name
    /// (normalize_model_name), shortened with a hash when the queue name would pass AMQP's 255
    /// bytes. `model` must already be normalized.
    std::string model_key(std::string_view model) const;
    /// The work queue of one model: "<p>.work.<model_key>".
    std::string model_queue(std::string_view model) const;

private:
    std::string model_queue_prefix_;
};

/// Routing keys on the responses exchange: "<server-id>.chunk" etc. `chunks` carries the
/// multiplexed chunks of many streams (common/chunk_frames.hpp); `chunk` one stream's raw text.
std::string chunk_key(std::string_view server_id);
std::string chunks_key(std::string_view server_id);
std::string final_key(std::string_view server_id);
std::string error_key(std::string_view server_id);

/// The `type` of a message an API server publishes straight into the audit responses queue
/// (default exchange) when it ended a stream itself: an error_message saying what its client was
/// told (worker_lost, timeout, cancelled, client_too_slow). Header `server_id`; correlation_id =
/// request id. The audit lets it decide the stored outcome over the worker's own report.
inline constexpr std::string_view verdict_type = "verdict";
/// The `type` of an API server's delivery confirmation (common/delivery_confirmation.hpp), also
/// published straight into the audit responses queue: the requests whose worker outcome it
/// handed to its client, every --delivery-confirm-ms, empty as its keep-alive.
inline constexpr std::string_view delivered_type = "delivered";

/// Routing keys on the control exchange.
inline constexpr std::string_view heartbeat_key = "worker.heartbeat";
inline constexpr std::string_view discover_key = "discover";
std::string cancel_key(std::string_view request_id);

/// Declares the exchanges and the shared durable queues with their bindings. Also takes
/// work_queue off the requests fanout, where versions before per-model routing bound it.
result<void> declare_core(connection& conn, const topology& t, const broker_config& cfg);

/// Declares the work queue of `model` (normalized) with the work queues' fixed arguments and
/// binds it to the work exchange under its key. Idempotent.
result<void> declare_model_queue(connection& conn, const topology& t, const broker_config& cfg, std::string_view model);

}  // namespace llmp::broker

#pragma once
// task_host: what a generation_task needs from the worker that runs it, and nothing more: the
// provider, a publisher for its chunks and its last message (with a confirm callback), the ack
// or requeue of its delivery, hooks for the end of its generation and of the task, an executor
// for retries, and a few settings.
// worker_service implements it over its broker threads; worker/testing/fake_task_host records
// every call so that the task's rules are unit-tested without a broker (generation_task_test).
//
// Threading: a task calls its host from the io_context (provider callbacks, timers) and from the
// publisher thread (confirm callbacks); every method must be safe from any thread.

#include "broker/publisher.hpp"
#include "common/asio_fwd.hpp"
#include "providers/config.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace llmp::providers {
class provider;
}

namespace llmp::worker {

class generation_task;

/// Where a task's request came from: the delivery to ack or requeue when it ends.
struct task_origin {
    std::uint64_t epoch = 0;  ///< consumer connection epoch of the delivery
    std::uint64_t delivery_tag = 0;
    /// Which delivery of the request this is (1 = first), from x-llmp-deliveries and the
    /// redelivered flag; sent as the chunks' `attempt` header.
    std::int64_t attempt = 1;
};

/// The values a task reads; fixed for the life of the host.
struct task_settings {
    std::string worker_id;
    /// Where chunks, finals and errors go (`<p>.responses`).
    std::string responses_exchange;
    providers::upstream_policy policy;
    /// Chunks as multiplexed frames (`<server-id>.chunks`) or one raw message per stream.
    bool multiplex_chunks = true;
    /// A final (or error) message the broker does not confirm is published again after
    /// `final_retry_delay`, at most `final_publish_attempts` times in all (~5 s); then the
    /// request is handed back (requeued) for another attempt to answer.
    int final_publish_attempts = 20;
    std::chrono::milliseconds final_retry_delay{250};
};

class task_host {
public:
    virtual ~task_host() = default;

    virtual const task_settings& settings() const = 0;
    virtual providers::provider& provider() = 0;
    /// Hands `job` to the publisher; false when its queue is full (job.done is not called).
    virtual bool publish(broker::publish_job&& job) = 0;
    /// Settles the task's delivery: acked (answered), or requeued (another attempt answers).
    virtual void ack(const task_origin& origin) = 0;
    virtual void requeue(const task_origin& origin) = 0;
    /// The task has ended and holds nothing more: it leaves the table of tasks (and cancels no
    /// longer reach it). `tokens` it generated, for the heartbeat's totals. The task itself, not
    /// its request id: one worker can hold two copies of a request (a redelivered one it could
    /// not put back runs here, and the copy may come back to it), and each ends on its own.
    virtual void task_ended(const generation_task& task, std::int64_t tokens) = 0;
    /// The task's generation is over (answered, failed, cancelled or abandoned), once per task,
    /// before its answer is confirmed: its generation slot may start another request.
    virtual void generation_ended(const task_origin& origin) = 0;
    /// Where retries of the last message wait.
    virtual net::any_io_executor executor() = 0;
};

}  // namespace llmp::worker

#pragma once
// worker_service: the `llmproxy worker` process, assembled. Owns
//   - the provider, on an io_context run by cfg.io_threads threads (no thread per request),
//   - a consumer thread: on one channel with one prefetch budget (= concurrency), the work
//     queue of each model the provider serves (broker/topology.hpp; followed as the provider's
//     model list changes, re-read every heartbeat period), <p>.requests.work (requests no model
//     queue took), plus a control queue for discover and cancel messages,
//   - a publisher thread (chunks, finals, errors, heartbeats), confirm mode,
// each thread owning its AMQP connection. Deliveries are handed to the io_context with post.
//
// It is the generation_tasks' task_host (worker/task_host.hpp), privately: the tasks see the
// provider, the publisher and their delivery's ack through that interface only.
//
// Lifecycle (main thread): construct -> start() -> run() until SIGINT/SIGTERM -> drain the
// generations in flight up to cfg.drain_timeout -> stop in reverse order.
//
// Poison messages: a request that kills the worker holding it (abort, SIGSEGV, OOM kill) comes
// back redelivered. The work queue is a classic priority queue (no x-delivery-count), so the
// worker counts deliveries itself in the header x-llmp-deliveries: a redelivered request is
// first put back on the queue it came from (default exchange) with its count raised, the original acked
// after that copy is confirmed; past cfg.max_deliveries it goes to <p>.dead with an x-reason
// and its client gets an error message. Details in docs/architecture.md.

#include "broker/message.hpp"
#include "common/messages.hpp"
#include "common/result.hpp"
#include "worker/config.hpp"
#include "worker/worker_metrics.hpp"

#include <atomic>
#include <memory>
#include <string>

namespace llmp::worker {

class generation_task;

class worker_service {
public:
    explicit worker_service(worker_config cfg);
    ~worker_service();

    result<void> start();
    int run();
    void request_stop();

    /// This worker's metrics, for an exporter (programs/worker.cpp serves them).
    const metrics::registry& metrics_registry() const;

private:
    void dispatch(const std::shared_ptr<generation_task>& task);
    /// A request from work queue `queue` (consumer thread): run it, or first count a redelivery.
    void accept(broker::delivery&& d, request_message&& req, std::uint64_t epoch, const std::string& queue);
    void run_task(request_message&& req, std::uint64_t epoch, std::uint64_t tag, std::int64_t attempt);
    void put_back_counted(broker::delivery&& d, request_message&& req, std::uint64_t epoch, std::int64_t attempt,
                          const std::string& queue);
    void dead_letter(broker::delivery&& d, const request_message& req, std::uint64_t epoch, std::int64_t attempt,
                     const std::string& queue);
    /// Runs the copies of `request_id` that waited for its original's ack (any thread).
    void release_parked(const std::string& request_id);
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace llmp::worker

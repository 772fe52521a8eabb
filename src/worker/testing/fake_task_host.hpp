#pragma once
// fake_task_host: a task_host that records what a generation_task asks of it, for unit tests.
// Published jobs are kept (with their confirm callbacks, which the test calls to play the
// broker); publish() can be made to refuse (a full queue) or to throw once; acks, requeues and the
// task's end are recorded. It owns the io_context the task's retries and the fake provider's
// cancels are posted to: the test runs it with run_ready().
//
// Threading: single-threaded; everything, the io_context included, runs on the test thread.
// Header-only, for tests only.

#include "providers/testing/fake_provider.hpp"
#include "worker/generation_task.hpp"
#include "worker/task_host.hpp"

#include <boost/asio/io_context.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace llmp::worker::testing {

class fake_task_host final : public task_host {
public:
    fake_task_host() {
        settings_.worker_id = "w-test";
        settings_.responses_exchange = "test.responses";
        settings_.final_publish_attempts = 3;
        settings_.final_retry_delay = std::chrono::milliseconds{1};
    }

    const task_settings& settings() const override { return settings_; }
    providers::provider& provider() override { return provider_; }

    bool publish(broker::publish_job&& job) override {
        if (std::exchange(throw_on_next_publish, false)) {
            throw std::bad_alloc{};
        }
        if (refuse_publish) {
            ++refused;
            return false;
        }
        published.push_back(std::move(job));
        return true;
    }
    void ack(const task_origin& o) override { acked.push_back(o.delivery_tag); }
    void requeue(const task_origin& o) override { requeued.push_back(o.delivery_tag); }
    void task_ended(const generation_task& task, std::int64_t tokens) override {
        ended.push_back(task.request_id());
        ended_tokens = tokens;
    }
    void generation_ended(const task_origin&) override { ++generations_ended; }
    net::any_io_executor executor() override { return ioc_.get_executor(); }

    /// Runs what is posted or due (retry timers of a few ms included) until nothing is left.
    void run_ready() {
        ioc_.restart();
        ioc_.run();
    }

    task_settings& mutable_settings() { return settings_; }
    providers::testing::fake_provider& fake_provider() { return provider_; }

    // The record.
    std::vector<broker::publish_job> published;
    std::vector<std::uint64_t> acked;     ///< delivery tags
    std::vector<std::uint64_t> requeued;  ///< delivery tags
    std::vector<std::string> ended;       ///< request ids, one per task_ended()
    std::optional<std::int64_t> ended_tokens;
    int generations_ended = 0;  ///< generation_ended() calls
    int refused = 0;

    // The script.
    bool refuse_publish = false;
    bool throw_on_next_publish = false;  ///< once, as an allocation failure would

private:
    net::io_context ioc_;
    task_settings settings_;
    providers::testing::fake_provider provider_{ioc_.get_executor()};
};

}  // namespace llmp::worker::testing

#pragma once
// queue_sampler: polls the RabbitMQ management API (GET /api/queues/<vhost>/<name>, basic auth)
// every `interval` for the work, audit and dead-letter queues of the prefix, and keeps the latest
// answer plus an hour of depth samples (the queue-depth chart; the database does not have it).
//
// Threading: the poll loop is a coroutine on the io_context (HTTP client, never blocks);
// latest() and history() may be called from any thread (a mutex guards the copies).

#include "common/asio_fwd.hpp"
#include "common/mutex.hpp"
#include "http/client.hpp"

#include <boost/asio/steady_timer.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace llmp::monitor {

struct queue_sampler_config {
    std::string mgmt_url;  ///< "" = no management API: latest() says so
    std::string user;
    std::string password;
    std::string vhost = "/";
    std::vector<std::string> queues;  ///< by name; the first is the legacy work queue
    /// The per-model work queues: every queue whose name starts with this ("<p>.work."), listed
    /// in one call each sample (they come and go with the models served). "" = none.
    std::string model_queue_prefix;
    std::chrono::milliseconds interval{2000};
};

struct depth_sample {
    std::int64_t t_ms = 0;
    std::int64_t work = 0;   ///< messages waiting for a worker: the legacy and every model's work queue
    std::int64_t total = 0;  ///< messages in every sampled queue
};

class queue_sampler {
public:
    queue_sampler(net::io_context& ioc, queue_sampler_config cfg);
    ~queue_sampler();

    void start();
    void stop();

    /// {"available": bool, "error"?: "...", "sampled_at_ms": n, "work_messages": n,
    ///  "queues": [...: the named ones, then each model's work queue with "model_queue": true]}
    nlohmann::json latest() const;
    /// Samples newer than `since_ms`, oldest first.
    std::vector<depth_sample> history(std::int64_t since_ms) const;

private:
    struct fetched {
        std::string name;
        unsigned status = 0;
        std::string body;
        std::string error;     ///< non-empty: the request failed
        bool listing = false;  ///< the paginated list of the model queues, not one queue
    };
    net::awaitable<void> loop();
    net::awaitable<void> sample_once();
    void record(const std::vector<fetched>& answers);

    net::io_context& ioc_;
    queue_sampler_config cfg_;
    std::shared_ptr<http_client::client> client_;
    std::string auth_header_;
    std::shared_ptr<bool> stopped_ = std::make_shared<bool>(false);
    std::unique_ptr<net::steady_timer> timer_;
    mutable llmp::mutex mu_;
    nlohmann::json latest_ GUARDED_BY(mu_);
    std::deque<depth_sample> history_ GUARDED_BY(mu_);
};

/// "user:password" in base64 (RFC 4648), for the Authorization header.
std::string base64(std::string_view in);

}  // namespace llmp::monitor

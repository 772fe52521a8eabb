#pragma once
// ingest_watch: every `interval`, reads the newest stored row times from PostgreSQL (through
// db_pool) and the audit and dead-letter queues from queue_sampler's latest answer, and records
// them as one ingest_sample in ingest_health (which judges them for /api/status).
//
// Threading: the loop is a coroutine on the io_context (the query runs on a db_pool thread);
// start() and stop() are called by monitor_service from its thread, stop() before the
// io_context stops.

#include "common/asio_fwd.hpp"
#include "monitor/ingest_health.hpp"

#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace llmp::monitor {

class db_pool;
class queue_sampler;

struct ingest_watch_config {
    std::vector<std::string> audit_queues;  ///< their messages are the backlog
    std::string dead_queue;
    std::chrono::milliseconds interval{2000};
};

class ingest_watch {
public:
    ingest_watch(net::io_context& ioc, db_pool& db, const queue_sampler& queues, ingest_health& health,
                 ingest_watch_config cfg);
    ~ingest_watch();

    void start();
    void stop();

private:
    net::awaitable<void> loop();

    net::io_context& ioc_;
    db_pool& db_;
    const queue_sampler& queues_;
    ingest_health& health_;
    ingest_watch_config cfg_;
    std::shared_ptr<bool> stopped_ = std::make_shared<bool>(false);
    std::unique_ptr<net::steady_timer> timer_;
};

/// The queue half of a sample from queue_sampler::latest(): backlog and consumers of
/// `audit_queues`, messages in `dead_queue`; all nullopt when the management API is unavailable.
ingest_sample queue_part(const nlohmann::json& latest, const std::vector<std::string>& audit_queues,
                         const std::string& dead_queue);

}  // namespace llmp::monitor

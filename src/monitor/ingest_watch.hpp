#pragma once
// ingest_watch: every `interval`, reads the newest stored row times from PostgreSQL and the
// audit and dead-letter queues from queue_sampler's latest answer, and records them as one
// ingest_sample in ingest_health (which judges them for /api/status).
//
// It owns one PostgreSQL connection (not a db_pool slot): a probe that runs whether or not
// anyone looks must not open the pool's connections, whose first attempt makes the pool answer
// the dashboard's own queries 503 until it is over. It applies no migrations; until the schema
// exists its samples have no stored mark.
//
// Threading: one thread of its own (libpq blocks); start() and stop() from monitor_service's
// thread. queue_sampler::latest() and ingest_health::record() are thread-safe.

#include "common/mutex.hpp"
#include "monitor/ingest_health.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <string>
#include <thread>
#include <vector>

namespace llmp::monitor {

class queue_sampler;

struct ingest_watch_config {
    std::string database_url;
    std::chrono::milliseconds statement_timeout{10000};
    std::vector<std::string> audit_queues;  ///< their messages are the backlog
    std::string dead_queue;
    std::chrono::milliseconds interval{2000};
};

class ingest_watch {
public:
    ingest_watch(const queue_sampler& queues, ingest_health& health, ingest_watch_config cfg);
    ~ingest_watch();  ///< stop()s
    ingest_watch(const ingest_watch&) = delete;
    ingest_watch& operator=(const ingest_watch&) = delete;

    void start();
    /// Wakes the thread and joins it (a running query ends within the statement timeout).
    void stop();

private:
    void thread_main();

    const queue_sampler& queues_;
    ingest_health& health_;
    ingest_watch_config cfg_;
    llmp::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ GUARDED_BY(mu_) = false;
    std::thread thread_;
};

/// The queue half of a sample from queue_sampler::latest(): backlog and consumers of
/// `audit_queues`, messages in `dead_queue`; all nullopt when the management API is unavailable.
ingest_sample queue_part(const nlohmann::json& latest, const std::vector<std::string>& audit_queues,
                         const std::string& dead_queue);

}  // namespace llmp::monitor

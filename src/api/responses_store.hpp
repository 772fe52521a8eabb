#pragma once
// responses_store: the API server's read path into the audit database, for the Responses API
// (previous_response_id, GET/DELETE /v1/responses/{id}, its input_items). The audit service
// writes every request and response (src/audit); this reads them back. Off unless
// --responses-db: then the routes answer that responses cannot be read here.
//
// libpq blocks, so queries never run on an Asio thread (style.md §6): a few threads (two), each
// owning one pg::connection (opened lazily, reopened at most once a second while PostgreSQL is
// down), take jobs from a bounded queue; a route co_awaits load()/remove() and resumes on its own
// executor with the answer. PostgreSQL's own text goes to the log; clients get db_unavailable
// (503), query_timeout (504) or db_error (500). The one write is DELETE's mark in
// deleted_responses (migration 21): the audit rows themselves are kept.
//
// It also remembers, for a few seconds, the requests this server has just finished (note_finished,
// any thread): the audit stores them a little later (its batches), so a read of one of those that
// finds nothing yet waits for it (up to `store_wait`) instead of answering 404. Likewise the
// background requests it has just queued (note_queued): a read waits for the request row only.
// An id it knows nothing of may be another server's: it is looked for a little longer
// (`unknown_wait`, backing off) before the answer is "none".
//
// Lifecycle: built by api_server with the config, start()ed before the listener, stop()ped
// (queued jobs answered "shutting_down", threads joined) after the io_context stops.

#include "api/responses_queries.hpp"
#include "common/asio_fwd.hpp"
#include "common/mutex.hpp"
#include "common/result.hpp"

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace llmp::api {

struct responses_store_config {
    std::string database_url;
    int threads = 2;
    std::chrono::milliseconds statement_timeout{5000};
    std::size_t max_queued = 256;
    /// How long a read of a request this server just finished waits for the audit to store it.
    std::chrono::milliseconds store_wait{5000};
    /// How often it looks again meanwhile.
    std::chrono::milliseconds store_poll{25};
    /// How long a read of an id this server knows nothing of keeps looking, its pauses doubling
    /// from store_poll: another API server may have relayed it a moment ago (a stream resumed
    /// behind a load balancer), and the audit stores it within its batch. Doubling keeps what a
    /// made-up id costs to a handful of primary-key reads.
    std::chrono::milliseconds unknown_wait{1000};
};

class responses_store {
public:
    explicit responses_store(responses_store_config cfg);
    ~responses_store();
    responses_store(const responses_store&) = delete;
    responses_store& operator=(const responses_store&) = delete;

    void start();
    void stop();

    /// The stored request `request_id` (nullopt: none, or not a Responses API request). When this
    /// server finished it a moment ago and the audit has not stored it (or its response) yet,
    /// waits for that, up to store_wait.
    net::awaitable<result<std::optional<stored_response>>> load(
        std::string request_id, stored_request_kind kind = stored_request_kind::responses);
    /// Marks a visible response deleted; false when there is none to delete.
    net::awaitable<result<bool>> remove(std::string request_id);

    /// The stored chunks of a background generation or resumable stream, in seq order
    /// (query_stored_chunks).
    net::awaitable<result<std::vector<stored_chunk>>> load_chunks(std::string request_id);

    /// This server ended the generation of `request_id` (its final or error was relayed).
    void note_finished(const std::string& request_id);
    /// This server queued the background generation `request_id` a moment ago: a read waits for
    /// its request row (not for its end, which may be minutes away).
    void note_queued(const std::string& request_id);

private:
    using job = std::function<result<void>(pg::connection&)>;
    struct task {
        job fn;
        std::function<void(std::optional<error>)> done;  // nullopt = ok
    };
    net::awaitable<result<void>> run(job j);
    /// Runs `query` on a pool thread and hands its value back on the caller's executor.
    template <class T>
    net::awaitable<result<T>> ask(std::function<result<T>(pg::connection&)> query);
    net::awaitable<result<std::optional<stored_response>>> load_once(const std::string& request_id,
                                                                     stored_request_kind kind);
    /// What a read of `request_id` waits for: nothing, its request row, or its end.
    enum class awaited { nothing, request, end };
    awaited awaited_for(const std::string& request_id);
    void remember(const std::string& request_id, awaited what);
    void enqueue(job j, std::function<void(std::optional<error>)> done);
    void thread_main();

    responses_store_config cfg_;
    llmp::mutex mu_;
    std::condition_variable cv_;
    std::deque<task> queue_ GUARDED_BY(mu_);
    bool stopping_ GUARDED_BY(mu_) = false;
    std::chrono::steady_clock::time_point next_connect_ GUARDED_BY(mu_){};
    bool available_ GUARDED_BY(mu_) = true;
    struct remembered {
        std::chrono::steady_clock::time_point at;
        awaited what = awaited::end;
    };
    std::unordered_map<std::string, remembered> recent_ GUARDED_BY(mu_);
    std::vector<std::thread> pool_;
};

}  // namespace llmp::api

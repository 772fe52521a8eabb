#pragma once
// db_pool: a few threads, each owning one PostgreSQL connection, that run the monitor's queries
// for the HTTP handlers. libpq blocks, so queries never run on an Asio thread (style.md §6): a
// handler co_awaits run(job); the job runs on a pool thread and its answer is posted back to
// the handler's executor.
//
// Lifecycle: built and start()ed by monitor_service, stop()ped before the io_context stops.
// Each thread (re)connects lazily: on connect it applies pending audit migrations (idempotent,
// under the audit's advisory lock, so the monitor works whichever process starts first) and
// sets statement_timeout. When PostgreSQL is down, jobs are answered at once with a
// "db_unavailable" error (the handlers turn it into 503) and a reconnect is tried at most once
// a second. drain()/stop() answer every queued job with "shutting_down".

#include "common/asio_fwd.hpp"
#include "common/mutex.hpp"
#include "common/result.hpp"
#include "pg/connection.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace llmp::monitor {

/// A job's outcome (default-constructible, as Asio completion arguments must be).
struct db_reply {
    bool ok = false;
    nlohmann::json body;
    error err;
};

/// What a client may see of a job's error: PostgreSQL errors become a code with a fixed
/// message ("db_unavailable", "query_timeout", "db_error"); the job's own errors (not_found,
/// invalid_field, ...) pass unchanged. The pool logs the PostgreSQL text.
error for_client(const error& e);

class db_pool {
public:
    using job = std::function<result<nlohmann::json>(pg::connection&)>;

    db_pool(std::string url, int threads, std::chrono::milliseconds statement_timeout, std::size_t max_queued = 256);
    ~db_pool();
    db_pool(const db_pool&) = delete;
    db_pool& operator=(const db_pool&) = delete;

    void start();
    /// Answers every queued job with "shutting_down" and takes no more; running jobs finish.
    /// Does not block (call it on an Asio thread while the io_context still runs).
    void drain();
    /// Jobs queued or running.
    std::size_t pending() const;
    /// drain(), then joins the threads.
    void stop();

    template <class Token>
    auto async_run(job j, Token&& token) {
        return net::async_initiate<Token, void(db_reply)>(
            [this](auto handler, job j) {
                auto ex = net::get_associated_executor(handler);
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                enqueue(std::move(j), [h, ex](db_reply r) {
                    net::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
                });
            },
            token, std::move(j));
    }

    /// Runs `j` on a pool thread; completes on the awaiting coroutine's executor.
    net::awaitable<db_reply> run(job j) { return async_run(std::move(j), net::use_awaitable); }

    /// True when the last connection attempt or query found PostgreSQL reachable.
    bool available() const;

private:
    struct task {
        job fn;
        std::function<void(db_reply)> done;
    };
    void enqueue(job j, std::function<void(db_reply)> done);
    void thread_main();

    std::string url_;
    int threads_;
    std::chrono::milliseconds statement_timeout_;
    std::size_t max_queued_;
    mutable llmp::mutex mu_;
    std::condition_variable cv_;
    std::deque<task> queue_ GUARDED_BY(mu_);
    bool stopping_ GUARDED_BY(mu_) = false;
    std::size_t running_ GUARDED_BY(mu_) = 0;
    bool available_ GUARDED_BY(mu_) = true;
    std::string last_error_ GUARDED_BY(mu_);
    std::chrono::steady_clock::time_point next_connect_ GUARDED_BY(mu_){};  // shared backoff
    std::vector<std::thread> pool_;
};

}  // namespace llmp::monitor

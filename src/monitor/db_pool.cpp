#include "monitor/db_pool.hpp"

#include "monitor/logger.hpp"
#include "common/errc.hpp"
#include "pg/migrations.hpp"

namespace llmp::monitor {

error for_client(const error& e) {
    // PostgreSQL's own text names tables, columns, values, hosts and users: it goes to the log,
    // the client gets a code and a sentence.
    if (e.code == pg::unavailable) {
        return make_error(errc::db_unavailable, "PostgreSQL is not reachable (retrying)");
    }
    if (e.code == pg::timed_out) {
        // Text search without a time window scans the whole history; say how to narrow it.
        return make_error(errc::query_timeout,
                          "the query ran past the monitor's --query-timeout-ms; narrow the time window (from/to) or "
                          "the filters");
    }
    if (e.code.rfind("db_", 0) == 0) {  // data_error, schema_error, other_error, any later one
        return make_error(errc::db_error,
                          "the database could not answer this query; the monitor's log has the details");
    }
    return e;
}

db_pool::db_pool(std::string url, int threads, std::chrono::milliseconds statement_timeout, std::size_t max_queued)
    : url_{std::move(url)}, threads_{threads}, statement_timeout_{statement_timeout}, max_queued_{max_queued} {}

db_pool::~db_pool() {
    stop();
}

void db_pool::start() {
    for (int i = 0; i < threads_; ++i) {
        pool_.emplace_back([this] { thread_main(); });
    }
}

void db_pool::drain() {
    std::deque<task> left;
    {
        llmp::lock_guard lock{mu_};
        stopping_ = true;
        left.swap(queue_);
    }
    cv_.notify_all();
    for (auto& t : left) {
        t.done(db_reply{false, {}, make_error(errc::shutting_down, "the monitor is shutting down")});
    }
}

std::size_t db_pool::pending() const {
    llmp::lock_guard lock{mu_};
    return queue_.size() + running_;
}

void db_pool::stop() {
    drain();
    for (auto& t : pool_) {
        if (t.joinable()) {
            t.join();
        }
    }
    pool_.clear();
}

bool db_pool::available() const {
    llmp::lock_guard lock{mu_};
    return available_;
}

void db_pool::enqueue(job j, std::function<void(db_reply)> done) {
    {
        llmp::lock_guard lock{mu_};
        if (!stopping_ && queue_.size() < max_queued_) {
            queue_.push_back(task{std::move(j), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(db_reply{
        false, {}, make_error(errc::overloaded, "too many queries are waiting for the database; retry shortly")});
}

void db_pool::thread_main() {
    std::unique_ptr<pg::connection> conn;
    for (;;) {
        task t;
        {
            llmp::unique_lock lock{mu_};
            cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
            if (stopping_) {
                return;
            }
            t = std::move(queue_.front());
            queue_.pop_front();
            ++running_;
        }
        // Counted as running until its answer is handed back.
        struct running_guard {
            db_pool& p;
            ~running_guard() {
                llmp::lock_guard lock{p.mu_};
                --p.running_;
            }
        } guard{*this};
        if (conn && !conn->healthy()) {
            conn.reset();
        }
        if (!conn) {
            std::string why;
            bool try_now = false;
            {
                llmp::lock_guard lock{mu_};
                try_now = std::chrono::steady_clock::now() >= next_connect_;
                why = last_error_;
                if (try_now) {
                    // Other threads answer at once until this attempt is over or a second passes.
                    next_connect_ = std::chrono::steady_clock::now() + std::chrono::seconds{1};
                }
            }
            if (try_now) {
                auto opened = pg::connection::open(url_, 3, "llmproxy-monitor");
                result<void> ready = opened ? result<void>{ok()} : result<void>{opened.error()};
                if (opened) {
                    auto& c = *opened.value();
                    // Migrations first: the statement timeout is for the dashboard's queries, and a
                    // migration (or its version check on a busy server) may take longer than that.
                    auto m = pg::migrate(c);
                    ready = m ? result<void>{ok()} : result<void>{m.error()};
                    if (ready) {
                        // No JIT: over dozens of day partitions the planner's cost of a 34 ms
                        // dashboard query crosses jit_above_cost, and compiling it took 2.1 s
                        // (bench/RESULTS.md, issue 19); the dashboard's queries are short.
                        ready = c.exec("SET statement_timeout = " + std::to_string(statement_timeout_.count()) +
                                       "; SET jit = off");
                    }
                }
                llmp::lock_guard lock{mu_};
                if (ready) {
                    conn = std::move(opened.value());
                    next_connect_ = {};  // the server is back: the other threads connect at once
                    if (!available_) {
                        logger()->info("msg=\"database reachable again\"");
                    }
                    available_ = true;
                    last_error_.clear();
                } else {
                    if (available_) {
                        logger()->warn("msg=\"database unavailable\" error=\"{}\"", ready.error().message);
                    }
                    available_ = false;
                    last_error_ = ready.error().message;
                    why = last_error_;
                }
            }
            if (!conn) {
                // `why` is in the log (once per state change), never in the answer.
                t.done(db_reply{false, {}, for_client(error{std::string{pg::unavailable}, why, true})});
                continue;
            }
        }
        db_reply reply;
        try {
            auto r = t.fn(*conn);
            if (r) {
                reply.ok = true;
                reply.body = std::move(r.value());
            } else {
                const auto& e = r.error();
                if (e.code == pg::unavailable) {
                    conn.reset();
                    llmp::lock_guard lock{mu_};
                    if (available_) {
                        logger()->warn("msg=\"database unavailable\" error=\"{}\"", e.message);
                    }
                    available_ = false;
                    last_error_ = e.message;
                } else if (e.code.rfind("db_", 0) == 0) {
                    logger()->warn("msg=\"query failed\" code={} error=\"{}\"", e.code, e.message);
                }
                reply.err = for_client(e);
            }
        } catch (const std::exception& e) {
            // A job threw (a malformed row it could not convert): a bug, but not worth the process.
            logger()->error("msg=\"query failed\" error=\"{}\"", e.what());
            reply.err = make_error(errc::internal_error,
                                   "the query's answer could not be read; the monitor's log has the details");
        }
        t.done(std::move(reply));
    }
}

}  // namespace llmp::monitor

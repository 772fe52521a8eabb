#include "api/responses_store.hpp"

#include "api/logger.hpp"
#include "common/errc.hpp"
#include "pg/connection.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace llmp::api {
namespace {

/// What a client may see of a query's failure: PostgreSQL's text (tables, hosts, users) goes
/// to the log only.
error for_client(const error& e) {
    if (e.code == pg::unavailable) {
        return make_error(errc::db_unavailable, "the response store (PostgreSQL) is not reachable; retry shortly");
    }
    if (e.code == pg::timed_out) {
        return make_error(errc::query_timeout, "the response store took too long to answer; retry shortly");
    }
    if (e.code.rfind("db_", 0) == 0) {
        return make_error(errc::db_error, "the response store could not answer; the API server's log has the details");
    }
    return e;
}

/// How long a finished request is remembered: longer than any wait for the audit.
constexpr auto remember_for = std::chrono::seconds{60};
constexpr std::size_t max_remembered = 100000;

}  // namespace

responses_store::responses_store(responses_store_config cfg) : cfg_{std::move(cfg)} {}

responses_store::~responses_store() {
    stop();
}

void responses_store::start() {
    for (int i = 0; i < cfg_.threads; ++i) {
        pool_.emplace_back([this] { thread_main(); });
    }
}

void responses_store::stop() {
    std::deque<task> left;
    {
        llmp::lock_guard lock{mu_};
        stopping_ = true;
        left.swap(queue_);
    }
    cv_.notify_all();
    for (auto& t : left) {
        t.done(make_error(errc::shutting_down, "the server is shutting down"));
    }
    for (auto& t : pool_) {
        if (t.joinable()) {
            t.join();
        }
    }
    pool_.clear();
}

void responses_store::note_finished(const std::string& request_id) {
    remember(request_id, awaited::end);
}

void responses_store::note_queued(const std::string& request_id) {
    remember(request_id, awaited::request);
}

void responses_store::remember(const std::string& request_id, awaited what) {
    auto now = std::chrono::steady_clock::now();
    llmp::lock_guard lock{mu_};
    if (recent_.size() >= max_remembered) {
        std::erase_if(recent_, [&](const auto& e) { return now - e.second.at > remember_for; });
        if (recent_.size() >= max_remembered) {
            recent_.clear();  // a burst beyond the bound: forget rather than grow
        }
    }
    recent_[request_id] = remembered{now, what};
}

responses_store::awaited responses_store::awaited_for(const std::string& request_id) {
    llmp::lock_guard lock{mu_};
    auto it = recent_.find(request_id);
    if (it == recent_.end() || std::chrono::steady_clock::now() - it->second.at >= remember_for) {
        return awaited::nothing;
    }
    return it->second.what;
}

net::awaitable<result<void>> responses_store::run(job j) {
    auto outcome = co_await net::async_initiate<decltype(net::use_awaitable), void(std::optional<error>)>(
        [this](auto handler, job j) {
            auto ex = net::get_associated_executor(handler);
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            enqueue(std::move(j), [h, ex](std::optional<error> e) {
                net::post(ex, [h, e = std::move(e)]() mutable { (*h)(std::move(e)); });
            });
        },
        net::use_awaitable, std::move(j));
    if (outcome) {
        co_return *outcome;
    }
    co_return ok();
}

template <class T>
net::awaitable<result<T>> responses_store::ask(std::function<result<T>(pg::connection&)> query) {
    auto out = std::make_shared<std::optional<T>>();
    // Named, not a temporary inside the co_await (a GCC 12 coroutine bug).
    job j = [out, query = std::move(query)](pg::connection& conn) -> result<void> {
        auto q = query(conn);
        if (!q) {
            return q.error();
        }
        *out = std::move(q.value());
        return ok();
    };
    auto r = co_await run(std::move(j));
    if (!r) {
        co_return r.error();
    }
    co_return std::move(**out);
}

net::awaitable<result<std::optional<stored_response>>> responses_store::load_once(const std::string& request_id,
                                                                                  stored_request_kind kind) {
    std::function<result<std::optional<stored_response>>(pg::connection&)> read =
        [request_id, kind](pg::connection& conn) { return query_stored_response(conn, request_id, kind); };
    auto found = co_await ask(std::move(read));
    co_return found;
}

net::awaitable<result<std::optional<stored_response>>> responses_store::load(std::string request_id,
                                                                             stored_request_kind kind) {
    const auto what = awaited_for(request_id);
    auto enough = [what](const result<std::optional<stored_response>>& found) {
        if (!found) {
            return true;  // an error is answered at once
        }
        if (what == awaited::nothing) {
            return found.value().has_value();
        }
        return found.value() && (what == awaited::request || found.value()->finished());
    };
    auto found = co_await load_once(request_id, kind);
    if (enough(found)) {
        co_return found;
    }
    // This server relayed its end (or queued it) a moment ago: the audit stores it within its
    // batch time. Or this server knows nothing of it: another one may have relayed it just now,
    // or nobody did, so that wait is shorter and backs off (a made-up id costs a few reads).
    const bool unknown = what == awaited::nothing;
    const auto deadline = std::chrono::steady_clock::now() + (unknown ? cfg_.unknown_wait : cfg_.store_wait);
    auto pause = cfg_.store_poll;
    net::steady_timer timer{co_await net::this_coro::executor};
    for (auto now = std::chrono::steady_clock::now(); now < deadline; now = std::chrono::steady_clock::now()) {
        timer.expires_after(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
        co_await timer.async_wait(net::use_awaitable);
        found = co_await load_once(request_id, kind);
        if (enough(found)) {
            break;
        }
        if (unknown) {
            pause *= 2;
        }
    }
    co_return found;
}

net::awaitable<result<std::vector<stored_chunk>>> responses_store::load_chunks(std::string request_id) {
    std::function<result<std::vector<stored_chunk>>(pg::connection&)> read = [request_id](pg::connection& conn) {
        return query_stored_chunks(conn, request_id);
    };
    auto chunks = co_await ask(std::move(read));
    co_return chunks;
}

net::awaitable<result<bool>> responses_store::remove(std::string request_id) {
    // A response this server just finished may not be stored yet: wait for it as a read does.
    auto found = co_await load(request_id);
    if (!found) {
        co_return found.error();
    }
    std::function<result<bool>(pg::connection&)> mark = [request_id](pg::connection& conn) {
        return mark_response_deleted(conn, request_id);
    };
    auto deleted = co_await ask(std::move(mark));
    co_return deleted;
}

void responses_store::enqueue(job j, std::function<void(std::optional<error>)> done) {
    {
        llmp::lock_guard lock{mu_};
        if (!stopping_ && queue_.size() < cfg_.max_queued) {
            queue_.push_back(task{std::move(j), std::move(done)});
            cv_.notify_one();
            return;
        }
    }
    done(make_error(errc::overloaded, "too many reads are waiting for the response store; retry shortly"));
}

void responses_store::thread_main() {
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
        }
        if (conn && !conn->healthy()) {
            conn.reset();
        }
        if (!conn) {
            bool try_now = false;
            {
                llmp::lock_guard lock{mu_};
                try_now = std::chrono::steady_clock::now() >= next_connect_;
                if (try_now) {
                    next_connect_ = std::chrono::steady_clock::now() + std::chrono::seconds{1};
                }
            }
            if (try_now) {
                auto opened = pg::connection::open(cfg_.database_url, 3, "llmproxy-api");
                result<void> ready = opened ? result<void>{ok()} : result<void>{opened.error()};
                if (opened) {
                    ready = opened.value()->exec("SET statement_timeout = " +
                                                 std::to_string(cfg_.statement_timeout.count()));
                }
                llmp::lock_guard lock{mu_};
                if (ready) {
                    conn = std::move(opened.value());
                    next_connect_ = {};
                    if (!available_) {
                        logger()->info("msg=\"response store reachable again\"");
                    }
                    available_ = true;
                } else {
                    if (available_) {
                        logger()->warn("msg=\"response store unavailable\" error=\"{}\"", ready.error().message);
                    }
                    available_ = false;
                }
            }
            if (!conn) {
                t.done(for_client(error{std::string{pg::unavailable}, "not connected", true}));
                continue;
            }
        }
        std::optional<error> failed;
        try {
            auto r = t.fn(*conn);
            if (!r) {
                const auto& e = r.error();
                if (e.code == pg::unavailable) {
                    conn.reset();
                }
                if (e.code.rfind("db_", 0) == 0) {
                    logger()->warn("msg=\"response store query failed\" code={} error=\"{}\"", e.code, e.message);
                }
                failed = for_client(e);
            }
        } catch (const std::exception& e) {
            // A row the job could not convert: a bug, but not worth the process.
            logger()->error("msg=\"response store query failed\" error=\"{}\"", e.what());
            failed = make_error(errc::internal_error, "the stored response could not be read");
        }
        t.done(std::move(failed));
    }
}

}  // namespace llmp::api

#include "monitor/shared_reads.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace llmp::monitor {

struct shared_reads::flight {
    bool done = false;  // guarded by shared_reads::mu_
    db_reply reply;
    std::vector<std::function<void(db_reply)>> waiters;
};

std::shared_ptr<shared_reads::flight> shared_reads::join_or_lead(const std::string& key, bool& leader) {
    llmp::lock_guard lock{mu_};
    auto& f = flights_[key];
    leader = !f;
    if (leader) {
        f = std::make_shared<flight>();
        ++queries_;
    }
    return f;
}

void shared_reads::land(const std::string& key, const std::shared_ptr<flight>& f, const db_reply& r,
                        std::chrono::milliseconds ttl) {
    if (r.ok && ttl.count() > 0) {
        cache_.put(key, r.body, ttl);
    }
    std::vector<std::function<void(db_reply)>> waiters;
    {
        llmp::lock_guard lock{mu_};
        f->done = true;
        f->reply = r;
        waiters.swap(f->waiters);
        if (auto it = flights_.find(key); it != flights_.end() && it->second == f) {
            flights_.erase(it);
        }
    }
    for (auto& w : waiters) {
        w(r);
    }
}

net::awaitable<db_reply> shared_reads::wait_for(std::shared_ptr<flight> f) {
    return net::async_initiate<const net::use_awaitable_t<>, void(db_reply)>(
        [this, f](auto handler) {
            auto ex = net::get_associated_executor(handler);
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            auto deliver = [h, ex](db_reply r) {
                net::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
            };
            llmp::unique_lock lock{mu_};
            if (f->done) {  // landed between join_or_lead and here
                db_reply r = f->reply;
                lock.unlock();
                deliver(std::move(r));
                return;
            }
            f->waiters.emplace_back(std::move(deliver));
        },
        net::use_awaitable);
}

net::awaitable<db_reply> shared_reads::run_as_leader(const std::string& key, std::shared_ptr<flight> f,
                                                     std::chrono::milliseconds ttl, db_pool::job job) {
    db_reply r = co_await db_.run(std::move(job));
    land(key, f, r, ttl);
    co_return r;
}

net::awaitable<db_reply> shared_reads::read(std::string key, std::chrono::milliseconds ttl, db_pool::job job) {
    if (ttl.count() > 0) {
        if (auto body = cache_.get(key)) {
            db_reply hit;
            hit.ok = true;
            hit.body = std::move(*body);
            co_return hit;
        }
    }
    bool leader = false;
    std::shared_ptr<flight> f = join_or_lead(key, leader);
    if (!leader) {
        co_return co_await wait_for(std::move(f));
    }
    if (ttl >= rewarm_min_ttl) {
        llmp::lock_guard lock{mu_};
        jobs_[key] = remembered{job, ttl};
    }
    co_return co_await run_as_leader(key, std::move(f), ttl, std::move(job));
}

net::awaitable<std::size_t> shared_reads::rewarm_due(clock::time_point now) {
    std::vector<std::pair<std::string, remembered>> work;
    {
        std::vector<std::string> due = cache_.due(now, rewarm_lead, rewarm_min_ttl);
        llmp::lock_guard lock{mu_};
        // Forget the jobs whose answers have expired unread (no tab reads them any more).
        // (A loop, not erase_if: clang's thread-safety analysis sees a lambda as holding no lock.)
        for (auto it = jobs_.begin(); it != jobs_.end();) {
            it = !flights_.contains(it->first) && !cache_.alive(it->first, now) ? jobs_.erase(it) : std::next(it);
        }
        for (auto& key : due) {
            auto it = jobs_.find(key);
            if (it != jobs_.end() && !flights_.contains(key)) {
                work.emplace_back(key, it->second);
            }
        }
    }
    std::size_t n = 0;
    for (auto& [key, job] : work) {
        bool leader = false;
        std::shared_ptr<flight> f = join_or_lead(key, leader);
        if (!leader) {
            continue;  // a reader started it meanwhile
        }
        co_await run_as_leader(key, std::move(f), job.ttl, job.job);
        ++n;
    }
    co_return n;
}

std::uint64_t shared_reads::queries() const {
    llmp::lock_guard lock{mu_};
    return queries_;
}

}  // namespace llmp::monitor

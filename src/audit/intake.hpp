#pragma once
// intake: the hand-over from the consumer thread (producer) to the pg_writer thread (single
// consumer), in delivery order. The writer relies on that order to ack with multiple=true.
//
// Bound: nothing is refused here. The deliveries that can be waiting are at most what the
// broker lets the consumer hold unacked (prefetch per audit queue; on a lost connection the
// consumer drops what is queued, see drop_deliveries), and heartbeats are coalesced to the
// newest per worker, so the memory is bounded by configuration. After close()
// pushes are dropped (those deliveries stay unacked and are requeued when the consumer closes).

#include "audit/batcher.hpp"
#include "common/mutex.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace llmp::audit {

/// A delivery that can never be stored, with the reason.
struct dead_item {
    broker::delivery original;
    std::string reason;
    ack_ref ack;
};

using intake_item = std::variant<pending_row, dead_item>;

class intake {
public:
    void push(intake_item&& item) {
        bool wake = false;
        {
            llmp::lock_guard lock{mu_};
            if (closed_) {
                return;
            }
            items_.push_back(std::move(item));
            wake = waiting_ && items_.size() >= want_;
        }
        if (wake) {
            cv_.notify_one();
        }
    }
    void push_heartbeat(worker_heartbeat&& hb) {
        bool wake = false;
        {
            llmp::lock_guard lock{mu_};
            if (closed_) {
                return;
            }
            auto id = hb.worker_id;
            heartbeats_[std::move(id)] = std::move(hb);
            wake = waiting_ && want_ <= 1;
        }
        if (wake) {
            cv_.notify_one();
        }
    }
    /// Waits until `want` items are queued (or, for want <= 1, any heartbeat), `until` passes,
    /// or wake()/close() is called. Waking only for a full batch's worth keeps the writer from
    /// being woken once per delivery under load.
    void wait(std::optional<steady::time_point> until, std::size_t want) {
        llmp::unique_lock lock{mu_};
        want_ = std::max<std::size_t>(want, 1);
        auto ready = [this]() REQUIRES(mu_) {
            return items_.size() >= want_ || (want_ <= 1 && !heartbeats_.empty()) || woken_ || closed_;
        };
        waiting_ = true;
        if (until) {
            cv_.wait_until(lock.native(), *until, ready);
        } else {
            cv_.wait(lock.native(), ready);
        }
        waiting_ = false;
        woken_ = false;
    }
    /// Moves up to `max` items (in order) and every heartbeat out.
    void pop(std::vector<intake_item>& items, std::size_t max, std::vector<worker_heartbeat>& heartbeats) {
        llmp::lock_guard lock{mu_};
        while (max-- > 0 && !items_.empty()) {
            items.push_back(std::move(items_.front()));
            items_.pop_front();
        }
        for (auto& [id, hb] : heartbeats_) {
            heartbeats.push_back(std::move(hb));
        }
        heartbeats_.clear();
    }
    /// Drops the queued deliveries (not the heartbeats): called when the consumer's connection
    /// is lost, since their acks would be void and the broker redelivers them anyway. Keeps a
    /// flapping connection during a database outage from piling up copies.
    std::size_t drop_deliveries() {
        llmp::lock_guard lock{mu_};
        auto n = items_.size();
        items_.clear();
        return n;
    }
    void wake() {
        {
            llmp::lock_guard lock{mu_};
            woken_ = true;
        }
        cv_.notify_all();
    }
    void close() {
        {
            llmp::lock_guard lock{mu_};
            closed_ = true;
        }
        cv_.notify_all();
    }
    std::size_t size() const {
        llmp::lock_guard lock{mu_};
        return items_.size();
    }

private:
    mutable llmp::mutex mu_;
    std::condition_variable cv_;
    std::deque<intake_item> items_ GUARDED_BY(mu_);
    std::map<std::string, worker_heartbeat> heartbeats_ GUARDED_BY(mu_);
    bool woken_ GUARDED_BY(mu_) = false;
    bool closed_ GUARDED_BY(mu_) = false;
    bool waiting_ GUARDED_BY(mu_) = false;
    std::size_t want_ GUARDED_BY(mu_) = 1;
};

}  // namespace llmp::audit

#pragma once
// task_table: the generations a worker runs, by request id, with what decides whether one may
// start: the cancels that came before their requests (recent_cancels) and the broker
// connections lost since their deliveries came.
//
// It owns the tasks: a provider's callbacks hold a task weakly, so a task dropped from here
// before it ended would vanish without settling its delivery or leaving the in-flight count.
// Hence a multimap, and removal by identity: one worker can hold two copies of a request (a
// redelivered one whose put-back failed as the broker went down runs here, and the copy the
// broker requeued can come back to it), and each copy ends on its own.
//
// A lost connection's deliveries are back in the queue: the tasks of it running here are
// abandoned, and none of it starts any more (one could still be on its way: a put-back's
// fallback, a parked copy). Run here too, it would be a second generation of a request the
// broker hands out again, whose chunks the client's relay would take for the new one's.
//
// Threading: every method is safe from any thread (one mutex).

#include "common/mutex.hpp"
#include "worker/recent_cancels.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace llmp::worker {

class generation_task;

class task_table {
public:
    enum class admission {
        start,      ///< registered; start it
        cancelled,  ///< registered, but a cancel of its request came first: end it as cancelled
        lost,       ///< not registered: its delivery's connection is lost; end it unanswered
    };

    /// A task about to start (its delivery's epoch in its origin).
    admission admit(const std::shared_ptr<generation_task>& task);
    /// `task` has ended: its entry leaves (another copy of its request stays).
    void remove(const generation_task& task);
    /// Remembers the cancel of `request_id` (its task may not be admitted yet); the copies of it
    /// running here, to cancel.
    std::vector<std::shared_ptr<generation_task>> cancel(const std::string& request_id);
    /// Consumer connection `epoch` is lost: every task here, to abandon. No task of that epoch,
    /// or an older one, is admitted from now on.
    std::vector<std::shared_ptr<generation_task>> lose_connection(std::uint64_t epoch);
    std::size_t size() const;

private:
    mutable llmp::mutex mu_;
    std::unordered_multimap<std::string, std::shared_ptr<generation_task>> tasks_ GUARDED_BY(mu_);
    recent_cancels cancelled_ GUARDED_BY(mu_);
    /// The newest connection epoch lost (epochs start at 1).
    std::uint64_t lost_epoch_ GUARDED_BY(mu_) = 0;
};

}  // namespace llmp::worker

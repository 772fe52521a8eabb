#pragma once
// recent_cancels: the ids of the last N requests a cancel was published for (`cancel.<id>` on
// the control exchange reaches every worker). A cancel can arrive before any worker holds its
// request: a client that hangs up while its request waits in a model queue, or a background
// response cancelled while queued. Without a memory of it the request would later run to its
// end: a stream's chunks still route to its API server's queue (bound `<server>.#`), which
// drops them, so none comes back to stop it. The worker checks a request against this set
// before it calls the upstream and ends it as `cancelled`.
//
// Bounded: the oldest id is forgotten first, so a storm of more than `capacity` cancels while a
// request waits can still let that request run (as before this set existed).
//
// Threading: none of its own; task_table guards it with its mutex.

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>

namespace llmp::worker {

class recent_cancels {
public:
    explicit recent_cancels(std::size_t capacity = 8192) : capacity_{capacity} {}

    /// Remembers `request_id` (again: a second cancel of one id keeps one entry).
    void add(std::string request_id);
    /// Whether `request_id` was cancelled, forgetting it (a request is checked once, at start).
    bool take(const std::string& request_id);
    std::size_t size() const { return ids_.size(); }

private:
    std::size_t capacity_;
    std::unordered_set<std::string> ids_;
    std::deque<std::string> order_;  ///< oldest first; may hold ids already taken
};

}  // namespace llmp::worker

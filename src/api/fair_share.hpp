#pragma once
// fair_share: one API key must not starve the others (issue 14, item 4). The work queues are
// RabbitMQ priority queues; a flood of one key's requests fills them in FIFO order within a
// priority, so a second key's request would wait behind the whole flood. fair_share counts the
// streams each key has open on this server and lifts the request of a key below its fair share
// one priority level above what it asked for: it is then delivered to the next free worker
// slot ahead of the flood, whose requests keep their own priority and still complete.
//
// "Below its fair share" = fewer open streams than the mean over the keys with open streams,
// the new request not counted. One key alone, or keys with equal shares, get no lift, so a
// fleet without contention behaves exactly as before. The count is per API server: with
// clients spread over several servers each sees the same proportions (docs/architecture.md,
// "Fair share"), and no shared store sits on the request path.
//
// Threading: every member may be called from any thread (one mutex, held for a map update).
// A ticket must not outlive its fair_share.

#include "common/mutex.hpp"

#include <cstddef>
#include <string>
#include <unordered_map>

namespace llmp::api {

class fair_share {
public:
    /// A stream counted against its key while the ticket lives (moved, not copied).
    class ticket {
    public:
        ticket() = default;
        ticket(ticket&& o) noexcept;
        ticket& operator=(ticket&& o) noexcept;
        ticket(const ticket&) = delete;
        ticket& operator=(const ticket&) = delete;
        ~ticket();

        /// True when the key was below its fair share as the stream opened: lift its priority.
        bool lifted() const { return lifted_; }

    private:
        friend class fair_share;
        ticket(fair_share* owner, std::string key, bool lifted);
        void release();

        fair_share* owner_ = nullptr;
        std::string key_;
        bool lifted_ = false;
    };

    /// Counts a stream of `key_id` from now until the ticket is destroyed.
    ticket open(const std::string& key_id);

    /// The priority a lifted request is queued with: one above `requested`, at most `max_priority`.
    static int lifted_priority(int requested, int max_priority);

    /// Open streams of `key_id` (0 for a key with none).
    std::size_t open_streams(const std::string& key_id) const;

private:
    void close(const std::string& key_id);

    mutable mutex mu_;
    std::unordered_map<std::string, std::size_t> open_ GUARDED_BY(mu_);  ///< keys with open streams only
    std::size_t total_ GUARDED_BY(mu_) = 0;
};

}  // namespace llmp::api

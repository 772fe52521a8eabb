#pragma once
// delivery_confirmer: the request ids whose worker outcome (final or error) this API server
// handed to its client and has not yet confirmed to the audit. The relay adds an id when the
// closing bytes are written; every --delivery-confirm-ms the server takes them, in batches of
// at most `max_ids` (one broker message each, common/delivery_confirmation.hpp), and puts back
// a batch the broker did not confirm, to go with the next one: an id is dropped only once the
// broker took it, never while this server lives. Cost: one message per interval and ~40 bytes
// per request, nothing per token.
//
// Thread-safety: every method may be called from any thread (one mutex).

#include "common/mutex.hpp"
#include "common/thread_annotations.hpp"

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

namespace llmp::api {

class delivery_confirmer {
public:
    /// 2,000 ids of 36 characters are ~80 KB of JSON: well under a broker message's size.
    static constexpr std::size_t default_max_ids = 2000;

    explicit delivery_confirmer(std::size_t max_ids = default_max_ids) : max_ids_{max_ids == 0 ? 1 : max_ids} {}

    /// The client was handed `request_id`'s worker outcome.
    void delivered(std::string request_id);
    /// The oldest pending ids, at most max_ids; they leave the pending set.
    std::vector<std::string> take();
    /// A batch the broker did not confirm: back in front, oldest first, for the next message.
    void put_back(std::vector<std::string> ids);
    std::size_t pending() const;

private:
    const std::size_t max_ids_;
    mutable llmp::mutex mu_;
    std::deque<std::string> pending_ GUARDED_BY(mu_);
};

}  // namespace llmp::api

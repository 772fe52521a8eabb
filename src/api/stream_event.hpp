#pragma once
// What the response consumer hands to a client's stream: one decoded response message.

#include "common/messages.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace llmp::api {

/// The id of the worker that generated a chunk. Shared, not copied, by the chunks of one
/// broker message (a multiplexed message carries frames of dozens of streams): one allocation
/// per message instead of one per chunk. Reads as the std::string it holds.
class worker_ref {
public:
    worker_ref() = default;
    worker_ref(std::shared_ptr<const std::string> id) : id_{std::move(id)} {}  // NOLINT: implicit on purpose
    worker_ref(std::string id) : id_{std::make_shared<const std::string>(std::move(id))} {}  // NOLINT
    worker_ref(const char* id) : worker_ref{std::string{id}} {}                              // NOLINT

    const std::string& str() const { return id_ ? *id_ : empty(); }
    operator const std::string&() const { return str(); }  // NOLINT: reads as the id
    friend bool operator==(const worker_ref& a, const std::string& b) { return a.str() == b; }

private:
    static const std::string& empty() {
        static const std::string none;
        return none;
    }
    std::shared_ptr<const std::string> id_;
};

struct chunk_event {
    std::int64_t seq = 0;  ///< tokens sent so far by the worker, including this chunk's
    std::string text;
    worker_ref worker;  ///< the worker that generated it
};

/// The outcome of publishing the request (publisher thread -> stream).
enum class publish_outcome { confirmed, queue_full, broker_unavailable };

using stream_event = std::variant<chunk_event, final_message, error_message>;
/// What response_sink::deliver() takes: a response event or the publish outcome.
using sink_input = std::variant<chunk_event, final_message, error_message, publish_outcome>;

}  // namespace llmp::api

#pragma once
// What the response consumer hands to a client's stream: one decoded response message.

#include "common/messages.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace llmp::api {

struct chunk_event {
    std::int64_t seq = 0;  ///< tokens sent so far by the worker, including this chunk's
    std::string text;
    std::string worker;  ///< the worker that generated it
    int choice = 0;      ///< the choice it belongs to (n > 1); 0 for every n = 1 request
};

/// The outcome of publishing the request (publisher thread -> stream).
enum class publish_outcome { confirmed, queue_full, broker_unavailable };

using stream_event = std::variant<chunk_event, final_message, error_message>;
/// What response_sink::deliver() takes: a response event or the publish outcome.
using sink_input = std::variant<chunk_event, final_message, error_message, publish_outcome>;

}  // namespace llmp::api

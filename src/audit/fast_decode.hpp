#pragma once
// fast_decode: simdjson (DOM, fully validating) readers for the two audit messages that come by
// the tens of thousands a second — the copy of each request and each final response. record.cpp
// tries them before its nlohmann decoder, which stays the reference.
//
// They succeed only for a plainly well-formed message: a JSON object (RFC 8259, valid UTF-8,
// nothing after it) whose known fields each have their expected JSON type or are null, with no
// field they do not know, the required ids present, and no NUL (\u0000) inside the JSON parts
// kept as text. Then the row is exactly what the reference decoder gives (JSON parts equal as
// JSON: key order and number spelling may differ, jsonb stores them alike). For anything else
// they return nullopt and the reference decoder decides, including the dead-letter reason.
//
// Pure functions; the parser is thread_local.

#include "audit/record.hpp"

#include <optional>
#include <string_view>

namespace llmp::audit::fast_decode {

/// A request message as a row; received_at_ms 0 = absent (the caller falls back).
std::optional<request_row> request(std::string_view body);

struct final_row {
    response_row row;              ///< status "ok"; request_id, server_id and fallbacks not set
    bool worker_id_given = false;  ///< else the caller takes the delivery's "worker" header
};
/// A final message (routing key *.final) as a response row.
std::optional<final_row> final(std::string_view body);

}  // namespace llmp::audit::fast_decode

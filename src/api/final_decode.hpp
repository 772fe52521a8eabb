#pragma once
// final_decode: the API's reader of a worker's final message (routing key *.final), one per
// request. A simdjson (DOM, fully validating) reader takes the plain shape every final of a
// chat or generate request has; anything else goes to common/messages.hpp's decode_final, which
// stays the reference: same result either way (final_decode_test.cpp holds them to it).
//
// The fast reader succeeds only for a JSON object (RFC 8259, valid UTF-8, nothing after it)
// whose known scalar fields each have the type the reference reads (or are null), none of them
// repeated, within the reference's depth limit, and without tool_calls, embeddings, logprobs or
// choices (those finals are rare and keep the reference's path). Unknown fields are ignored, as
// the reference ignores them. Pure functions; the parser is thread_local.

#include "common/messages.hpp"
#include "common/result.hpp"

#include <optional>
#include <string_view>

namespace llmp::api {

/// The final, or nullopt when the message is not of the plain shape above.
std::optional<final_message> fast_decode_final(std::string_view body);

/// fast_decode_final, else llmp::decode_final.
result<final_message> decode_final_message(std::string_view body);

}  // namespace llmp::api

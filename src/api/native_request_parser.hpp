#pragma once
// Validation of the native API's request bodies (POST /api/chat, /api/generate: Ollama-shaped).
// Pure functions, any thread. Every rejection is an llmp::error whose code maps to 400 and
// whose message says what to fix.

#include "common/messages.hpp"
#include "common/result.hpp"

#include <string_view>

namespace llmp::api {

/// Parses and validates a body; fills kind, model, messages/prompt, options, extra, stream,
/// priority. Ids, server and client fields are left for the caller.
result<request_message> parse_generation_request(std::string_view body, request_kind kind);

}  // namespace llmp::api

#pragma once
// Validation of the native API's request bodies (POST /api/chat, /api/generate: Ollama-shaped).
// Pure functions, any thread. Every rejection is an llmp::error whose code maps to 400 and
// whose message says what to fix.

#include "common/messages.hpp"
#include "common/result.hpp"

#include <string_view>

namespace llmp::api {

/// A native body: the request message, and whether its stream is resumable (`"resumable":
/// true`: published under the background server id, a hang-up does not cancel it, and
/// GET /api/streams/{id} with Last-Event-ID resumes it on any server).
struct native_generation_request {
    request_message message;
    bool resumable = false;
};

/// Parses and validates a body; fills kind, model, messages/prompt, options, extra, stream,
/// priority, and the resumable flag. Ids, server and client fields are left for the caller.
result<native_generation_request> parse_native_generation_request(std::string_view body, request_kind kind);

/// parse_native_generation_request without the native-only flag (the Ollama routes ignore it).
result<request_message> parse_generation_request(std::string_view body, request_kind kind);

}  // namespace llmp::api

#pragma once
// The native routes: POST /api/chat and POST /api/generate. The body is Ollama-shaped
// (native_request_parser); the reply is SSE with named events start/token/done/error, or one JSON
// object for "stream": false (native_renderer). Generations go through the relay, like the
// OpenAI and Ollama routes.

#include "api/context.hpp"
#include "http/router.hpp"

namespace llmp::api {

void add_native_routes(http_server::router& routes, context& ctx);

}  // namespace llmp::api

#pragma once
// The embedding routes of the OpenAI and Ollama front doors: POST /v1/embeddings,
// /ollama/api/embed and Ollama's legacy /ollama/api/embeddings. Each request is parsed
// (embedding_request_parser.hpp), queued and answered through the relay like a non-streamed
// chat (the vectors come in the worker's final message) and rendered by embedding_renderer.
// Registered once at start-up; the handlers run on the connection's strand.

#include "api/context.hpp"
#include "http/router.hpp"

namespace llmp::api {

void add_embedding_routes(http_server::router& routes, context& ctx);

}  // namespace llmp::api

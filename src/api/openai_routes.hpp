#pragma once
// The OpenAI-compatible routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
// GET /v1/models/{id} (a "/*" route; the id %-decoded).
// Generations go through the same relay (queue, workers, cancel, deadlines) as /api/chat; only
// the parsing (openai_request_parser) and the bytes (openai_renderer) are OpenAI's.

#include "api/context.hpp"
#include "http/router.hpp"

namespace llmp::api {

void add_openai_routes(http_server::router& routes, context& ctx);

}  // namespace llmp::api

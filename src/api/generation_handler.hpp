#pragma once
// The handlers of POST /api/chat and POST /api/generate: validate, publish the request, then
// relay the worker's chunks to the client as SSE (or one JSON object for "stream": false).
//
// Runs on the connection's strand. The flow of one request:
//   validate -> model served? -> register sink -> publish (await confirm: 503 if refused)
//   -> event: start -> event: token ... -> event: done | event: error -> unregister

#include "api/context.hpp"
#include "http/server.hpp"

namespace llmp::api {

net::awaitable<void> handle_generation(context& ctx, http_server::request_context& rc, request_kind kind);

}  // namespace llmp::api

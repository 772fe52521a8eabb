#pragma once
// GET /api/streams/{request id} with `Last-Event-ID: N`: a native resumable stream (POST
// /api/chat or /api/generate with "resumable": true) resumed on any API server, while it runs
// or after it ended: the events whose id is above N (the token events by chunk seq, then the
// closing done/error, whose id is one past the last chunk's), from the audit's stored chunks and
// the live ones merged by seq (api/responses_resume.hpp's machinery). Needs --responses-db (the
// audit's database is where the chunks are read back), 404 without; with --auth keys only the
// key that created the stream may resume it (404 for any other, as if there were none).
//
// Handlers run on the request's connection strand.

#include "api/context.hpp"
#include "http/router.hpp"

namespace llmp::api {

class responses_store;

/// `store` is null without --responses-db: the route then answers 404 saying so.
void add_native_stream_routes(http_server::router& routes, context& ctx, responses_store* store);

}  // namespace llmp::api

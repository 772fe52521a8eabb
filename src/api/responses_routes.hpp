#pragma once
// The OpenAI Responses API routes (issue 18): POST /v1/responses (a generation through the same
// relay as every door: responses_request_parser + responses_renderer), and, with the response
// store (--responses-db: api/responses_store.hpp), GET /v1/responses/{id}, DELETE
// /v1/responses/{id} and GET /v1/responses/{id}/input_items, read back from the audit database.
// previous_response_id puts the stored conversation (the messages the earlier request sent and
// the answer it got) before the new input. Without the store these answer that responses are
// not readable on this server (previous_response_id: 400; GET/DELETE: 404).
// Background mode (docs/architecture.md, "Background mode and resumable streams"), with the
// store: POST with background answers queued at once; GET polls it (the text so far from the
// stored chunks); GET ?stream=true[&starting_after=N] streams it on any server
// (api/responses_resume.hpp); POST /v1/responses/{id}/cancel cancels it from any server.
// With --auth keys a stored response is readable only with the key that created it.

#include "api/context.hpp"
#include "http/router.hpp"

namespace llmp::api {

class responses_store;

/// `store` may be null (no --responses-db); it outlives the routes.
void add_responses_routes(http_server::router& routes, context& ctx, responses_store* store);

}  // namespace llmp::api

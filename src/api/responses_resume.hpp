#pragma once
// responses_resume: GET /v1/responses/{id}?stream=true[&starting_after=N], the event stream of a
// background response on any API server, from its start or after sequence number N, while it
// runs and after it ended (docs/architecture.md, "Background mode and resumable streams").
//
// The Responses renderer numbers its events as a pure function of the worker's chunk sequence,
// so the stream is rebuilt whole from seq 1 and only the events after N are written. The chunks
// come from the audit's response_chunks (every background chunk is stored) and, while the
// generation runs, live: this server binds its response queue to `bg.<id>.#` (through the
// consumer thread, api/background_bindings.hpp) and registers a sink under the request id like
// a relay does. resume_merge places each chunk once, in order, reading the store again while a
// gap is possible; the end is the live final or error (or the stored one). The client leaving
// cancels nothing: a background generation runs on.
//
// Runs on the request's connection strand.

#include "api/context.hpp"
#include "api/responses_queries.hpp"
#include "http/server.hpp"

#include <cstdint>

namespace llmp::api {

class responses_store;

/// Streams `s` (already checked readable by the caller) to the client of `rc`: events whose
/// sequence_number is above `starting_after` (-1: all).
net::awaitable<void> stream_background_response(context& ctx, http_server::request_context& rc, responses_store& store,
                                                stored_response s, std::int64_t starting_after);

}  // namespace llmp::api

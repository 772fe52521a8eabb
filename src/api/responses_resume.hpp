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
// The same machinery resumes the native routes' resumable streams (GET /api/streams/{id} with
// Last-Event-ID, api/native_streams.hpp): stream_resumed_generation takes the flavour's part,
// its renderer (a pure function of the chunk sequence too), which stored requests it reads and
// how its events are numbered (the Responses API's position from 0, the native SSE `id:`).
//
// Runs on the request's connection strand.

#include "api/context.hpp"
#include "api/responses_queries.hpp"
#include "api/stream_renderer.hpp"
#include "http/server.hpp"

#include <cstdint>
#include <memory>

namespace llmp::api {

class responses_store;

/// Streams `s` (already checked readable by the caller) to the client of `rc`: events whose
/// sequence_number is above `starting_after` (-1: all).
net::awaitable<void> stream_background_response(context& ctx, http_server::request_context& rc, responses_store& store,
                                                stored_response s, std::int64_t starting_after);

/// How a resumed stream's events are numbered, for "the events after N".
enum class event_numbering {
    by_position,  ///< from 0 in order (the Responses API's sequence_number): render_events_after
    by_id,        ///< each event's SSE `id:` (the native stream's chunk seq); events without one are skipped
};

/// The flavour's part of a resumed stream.
struct resume_view {
    std::unique_ptr<stream_renderer> renderer;                  ///< streaming; its events a pure function of the chunks
    stored_request_kind kind = stored_request_kind::responses;  ///< what store.load() reads again
    event_numbering numbering = event_numbering::by_position;
    std::int64_t after = -1;  ///< the events numbered above this are written
};

/// Streams `s` (already checked readable by the caller) to the client of `rc` through `v`.
net::awaitable<void> stream_resumed_generation(context& ctx, http_server::request_context& rc, responses_store& store,
                                               stored_response s, resume_view v);

}  // namespace llmp::api

#pragma once
// The native API's replies (POST /api/chat, /api/generate): SSE with named events, or one JSON
// object for "stream": false; errors as {"error": {"code", "message"}}. The done event (and the
// whole object) carries `logprobs` ([{token, logprob, bytes, top_logprobs}]) when the request
// asked with "logprobs": true and the upstream had them. Every token event has
// `id: <chunk seq>`; on a resumable stream the closing done/error event has `id: <last seq + 1>`
// too, so the events are a pure function of the chunk sequence and a resume (GET
// /api/streams/{id}, Last-Event-ID: N) writes those whose id is above N.
// One renderer per stream, on its strand.

#include "api/stream_renderer.hpp"

#include <memory>

namespace llmp::api {

std::unique_ptr<stream_renderer> make_native_renderer(request_kind kind, bool stream, bool resumable = false);

}  // namespace llmp::api

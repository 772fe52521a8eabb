#pragma once
// The native API's replies (POST /api/chat, /api/generate): SSE with named events, or one JSON
// object for "stream": false; errors as {"error": {"code", "message"}}.

#include "api/stream_renderer.hpp"

#include <memory>

namespace llmp::api {

std::unique_ptr<stream_renderer> make_native_renderer(request_kind kind, bool stream);

}  // namespace llmp::api

#pragma once
// The Ollama-compatible routes under /ollama, so an Ollama client pointed at <proxy>/ollama
// works unchanged: POST /ollama/api/chat, /ollama/api/generate (the native parser: the bodies
// are Ollama's), GET /ollama/api/tags, GET /ollama/api/version, GET and HEAD /ollama/.

#include "api/context.hpp"
#include "http/router.hpp"

namespace llmp::api {

/// The Ollama release whose API these routes follow; clients gate features on /api/version.
inline constexpr const char* emulated_ollama_version = "0.9.0";

void add_ollama_routes(http_server::router& routes, context& ctx);

}  // namespace llmp::api

#pragma once
// The Ollama provider: Ollama's native streaming API over HTTP (/api/tags, /api/chat,
// /api/generate; see docs protocols.md §1).
//
// Threading (provider.hpp): built on the worker's executor; init()/models() are coroutines on
// it. start() returns at once; each generation runs on its own strand of that
// executor, where all its callbacks run. Upstream connections are pooled per provider
// (keep-alive) by http_client::client.
//
// Request mapping: model, messages|prompt, options and stream:true; every key of
// `extra` is passed through at the top level (format, keep_alive, think, tools, suffix, images,
// raw, system for generate, ...), except keys the provider owns (model, messages, prompt,
// stream, options). A chat `extra.system` becomes a leading system message, since /api/chat has
// no system field.
//
// Error codes handed to on_error:
//   upstream_unavailable (retryable)  cannot connect / connect timeout
//   upstream_timeout     (retryable)  no byte from Ollama for ollama_config::idle_timeout
//   model_not_found                   HTTP 404, with Ollama's own message
//   upstream_error                    other HTTP status, an {"error":...} line mid-stream,
//                                     a malformed line, or EOF before the done:true line
//   cancelled                         generation::cancel()

#include "providers/config.hpp"
#include "providers/provider.hpp"

#include <memory>

namespace llmp::providers {

std::unique_ptr<provider> make_ollama_provider(const ollama_config& cfg, net::any_io_executor ex);

}  // namespace llmp::providers

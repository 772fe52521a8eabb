#pragma once
// The replies to embedding requests (one JSON object, never a stream), exactly as the official
// clients parse them:
//   openai         {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...]}],
//                  "model","usage":{"prompt_tokens","total_tokens"}}; with encoding_format
//                  base64 each embedding is the base64 of its float32 values, little-endian
//                  (the openai SDK asks for that by default and decodes it)
//   ollama         {"model","embeddings":[[...]],"total_duration","load_duration","prompt_eval_count"}
//   ollama_legacy  {"embedding":[...]} (/api/embeddings: one text)
// Errors in the door's own shape (openai_error_response, ollama_error_response). Made per
// request, used on its strand.

#include "api/stream_renderer.hpp"

#include <memory>
#include <string>

namespace llmp::api {

enum class embedding_flavour { openai, ollama, ollama_legacy };

std::unique_ptr<stream_renderer> make_embedding_renderer(embedding_flavour flavour, bool base64, std::string model);

/// A vector as OpenAI's base64 encoding: its values as float32, little-endian, base64.
std::string float32_base64(const nlohmann::json& vector);

}  // namespace llmp::api

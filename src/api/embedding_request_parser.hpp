#pragma once
// Validation of embedding requests and their translation into a request_message of kind embed
// (common/messages.hpp: the texts in `input`, in order; `dimensions` and Ollama's `truncate`
// in `extra`; never streamed):
//   POST /v1/embeddings          OpenAI: input string | [string] (token arrays refused), model,
//                                encoding_format float | base64, dimensions, user
//   POST /ollama/api/embed       Ollama: input string | [string], truncate, dimensions, options,
//                                keep_alive
//   POST /ollama/api/embeddings  Ollama's legacy form: prompt (one text), options, keep_alive
// Pure functions, any thread. Every rejection is an llmp::error whose code maps to 400.

#include "common/messages.hpp"
#include "common/result.hpp"

#include <string_view>

namespace llmp::api {

/// The most texts one request may embed (OpenAI's own limit).
inline constexpr std::size_t max_embedding_inputs = 2048;

struct embedding_request {
    request_message msg;  ///< kind embed, stream false; ids and client fields left for the caller
    bool base64 = false;  ///< OpenAI encoding_format "base64": vectors as base64 of float32 LE
};

result<embedding_request> parse_openai_embedding_request(std::string_view body);
/// `legacy`: /api/embeddings (prompt) rather than /api/embed (input).
result<embedding_request> parse_ollama_embedding_request(std::string_view body, bool legacy);

}  // namespace llmp::api

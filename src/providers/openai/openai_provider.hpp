#pragma once
// The openai provider: any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, Ollama's
// /v1, OpenAI itself) over HTTP: GET {base}/models, POST {base}/chat/completions (chat) and
// {base}/completions (generate), always streamed (SSE) with stream_options.include_usage
// (protocols.md §2). Request mapping: openai_wire.hpp.
//
// Base URL: http://host:port/v1 as these servers document it. A URL with no path at all gets
// "/v1" appended, so http://host:8000 works too; any other path is used as given.
//
// Model names: OpenAI ids ("gpt-4o-mini", "Qwen/Qwen2.5-7B-Instruct") are not Ollama's
// name:tag. models() reports them normalized (normalize_model_name: "gpt-4o-mini:latest") like
// every provider, because workers and the API compare normalized names; the provider keeps the
// normalized -> upstream id map of the last model list, so a request for "gpt-4o-mini" or
// "gpt-4o-mini:latest" reaches the upstream as exactly "gpt-4o-mini". A name not in the map is
// sent as the client wrote it.
//
// API key: openai_config::api_key, sent as "Authorization: Bearer ..."; it never appears in a
// log line or an error message.
//
// Completion: done_reason is the upstream's finish_reason (stop, length, content_filter,
// tool_calls); token counts come from the usage chunk. Without one (servers that ignore
// include_usage), completion_tokens is the number of content chunks, prompt_tokens 0, and
// provider_metrics says {"usage":"estimated"} (else "upstream", with the usage object).
//
// Error codes handed to on_error:
//   upstream_unavailable  (retryable)  cannot connect / connect timeout
//   upstream_timeout      (retryable)  no byte for openai_config::idle_timeout
//   upstream_rate_limited (retryable)  HTTP 429 (the message carries Retry-After)
//   model_not_found                    HTTP 404, or an error object with code model_not_found
//   upstream_auth_failed               HTTP 401/403 (missing or wrong API key)
//   upstream_bad_request               other HTTP 4xx (the upstream's message says why)
//   upstream_error        (retryable)  HTTP 5xx, a data: {"error":...} event mid-stream, a
//                                      malformed event, or EOF before [DONE]/finish_reason
//   cancelled                          generation::cancel() (the connection is closed)

#include "providers/config.hpp"
#include "providers/provider.hpp"

#include <memory>

namespace llmp::providers {

std::unique_ptr<provider> make_openai_provider(const openai_config& cfg, net::any_io_executor ex);

}  // namespace llmp::providers

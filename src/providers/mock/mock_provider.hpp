#pragma once
// The mock provider: deterministic tokens (mock_text.hpp) at a configurable rate. The default
// provider, so that llmproxy runs anywhere, and the workhorse of the end-to-end tests.
//
// Per request, in `options`:
//   num_predict          how many tokens (default: mock_config::tokens)
//   mock_token_delay_ms  delay before each token (default: mock_config::token_delay)
// Failure on demand, anywhere in the prompt text:
//   [[mock:fail]]           fail before the first token (code "provider_error")
//   [[mock:fail-after=N]]   fail after N tokens
// Threading: as provider.hpp; each generation runs on its own strand.

#include "providers/config.hpp"
#include "providers/provider.hpp"

#include <memory>

namespace llmp::providers {

std::unique_ptr<provider> make_mock_provider(const mock_config& cfg, net::any_io_executor ex);

}  // namespace llmp::providers

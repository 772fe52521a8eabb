#pragma once
// ProviderFactory (seed): builds the configured provider on the worker's executor.

#include "providers/config.hpp"
#include "providers/provider.hpp"

#include <memory>
#include <string_view>

namespace llmp::providers {

/// The single provider of cfg.type, or, when cfg.upstreams is not empty, a pool of one
/// provider per upstream (pool/pool_provider.hpp). Fails with a clear message for an unknown
/// provider type.
result<std::unique_ptr<provider>> make_provider(const provider_config& cfg, net::any_io_executor ex);

/// "ollama=http://a:11434" or "openai=http://c:8000/v1" (the --upstream flag).
result<upstream_config> parse_upstream(std::string_view spec);

}  // namespace llmp::providers

#pragma once
// ProviderFactory (seed): builds the configured provider on the worker's executor.

#include "providers/config.hpp"
#include "providers/provider.hpp"

#include <memory>

namespace llmp::providers {

/// Fails with a clear message for an unknown provider type.
result<std::unique_ptr<provider>> make_provider(const provider_config& cfg, net::any_io_executor ex);

}  // namespace llmp::providers

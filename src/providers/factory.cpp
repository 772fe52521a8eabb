#include "providers/factory.hpp"

#include "providers/mock/mock_provider.hpp"
#include "providers/ollama/ollama_provider.hpp"

namespace llmp::providers {

result<std::unique_ptr<provider>> make_provider(const provider_config& cfg, net::any_io_executor ex) {
    if (cfg.type == "mock") {
        return make_mock_provider(cfg.mock, std::move(ex));
    }
    if (cfg.type == "ollama") {
        return make_ollama_provider(cfg.ollama, std::move(ex));
    }
    return fail("bad_config", "unknown provider '" + cfg.type + "' (use mock or ollama)");
}

}  // namespace llmp::providers

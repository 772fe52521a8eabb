#include "providers/factory.hpp"

#include "providers/mock/mock_provider.hpp"
#include "providers/ollama/ollama_provider.hpp"
#include "providers/openai/openai_provider.hpp"
#include "providers/pool/pool_provider.hpp"

namespace llmp::providers {
namespace {

result<std::unique_ptr<provider>> make_single(const provider_config& cfg, net::any_io_executor ex) {
    if (cfg.type == "mock") {
        return make_mock_provider(cfg.mock, std::move(ex));
    }
    if (cfg.type == "ollama") {
        return make_ollama_provider(cfg.ollama, std::move(ex));
    }
    if (cfg.type == "openai") {
        return make_openai_provider(cfg.openai, std::move(ex));
    }
    return fail("bad_config", "unknown provider '" + cfg.type + "' (use mock, ollama or openai)");
}

}  // namespace

result<upstream_config> parse_upstream(std::string_view spec) {
    auto eq = spec.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
        return fail("bad_config",
                    "upstream '" + std::string{spec} + "' is not TYPE=URL (e.g. ollama=http://host:11434)");
    }
    upstream_config u{std::string{spec.substr(0, eq)}, std::string{spec.substr(eq + 1)}};
    if (u.type != "ollama" && u.type != "openai") {
        return fail("bad_config", "upstream '" + std::string{spec} + "': type must be ollama or openai");
    }
    return u;
}

result<std::unique_ptr<provider>> make_provider(const provider_config& cfg, net::any_io_executor ex) {
    if (cfg.upstreams.empty()) {
        return make_single(cfg, std::move(ex));
    }
    std::vector<pool_member> members;
    for (const auto& u : cfg.upstreams) {
        provider_config one = cfg;
        one.upstreams.clear();
        one.type = u.type;
        one.ollama.url = u.url;
        one.openai.url = u.url;
        auto p = make_single(one, ex);
        if (!p) {
            return p.error();
        }
        members.push_back(pool_member{u.type + " " + u.url, std::move(p.value())});
    }
    return make_pool_provider(std::move(members), cfg.upstream_retry_after, std::move(ex));
}

}  // namespace llmp::providers

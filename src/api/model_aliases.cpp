#include "api/model_aliases.hpp"

#include "common/messages.hpp"

#include <algorithm>

namespace llmp::api {
namespace {

bool has_space(const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; });
}

llmp::error bad_alias(const std::string& entry, const std::string& why) {
    return llmp::error{"bad_config", "model alias '" + entry + "': " + why};
}

}  // namespace

result<model_aliases> model_aliases::parse(const std::vector<std::string>& entries) {
    model_aliases out;
    std::unordered_map<std::string, std::string> by_normalized;  // normalized alias -> target
    for (const auto& entry : entries) {
        auto eq = entry.find('=');
        if (eq == std::string::npos) {
            return bad_alias(entry, "expected ALIAS=MODEL");
        }
        std::string name = entry.substr(0, eq);
        std::string target = entry.substr(eq + 1);
        if (name.empty() || target.empty()) {
            return bad_alias(entry, "the alias and the model must both be non-empty");
        }
        if (has_space(name) || has_space(target)) {
            return bad_alias(entry, "names may not contain spaces or control characters");
        }
        target = normalize_model_name(target);
        auto [it, fresh] = by_normalized.emplace(normalize_model_name(name), target);
        if (!fresh) {
            if (it->second != target) {
                return bad_alias(entry, "the alias already maps to '" + it->second + "'");
            }
            continue;
        }
        out.list_.push_back({name, target});
    }
    for (const auto& a : out.list_) {
        if (auto chained = by_normalized.find(a.target);
            chained != by_normalized.end() && chained->second != a.target) {
            return bad_alias(a.name + "=" + a.target, "the target is itself an alias (of '" + chained->second +
                                                          "'); map the alias to the served model");
        }
        out.by_name_.emplace(a.name, a.target);
        out.by_name_.emplace(normalize_model_name(a.name), a.target);
    }
    std::sort(out.list_.begin(), out.list_.end(), [](const alias& a, const alias& b) { return a.name < b.name; });
    return out;
}

}  // namespace llmp::api

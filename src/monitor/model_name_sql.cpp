#include "monitor/model_name_sql.hpp"

#include "common/messages.hpp"

namespace llmp::monitor {

// A colon after the last slash starts the tag ("host:5000/model" has none); an empty tag
// ("mock:") is the default one.
std::string normalized_model_sql(std::string_view column) {
    std::string c{column};
    return "(CASE WHEN " + c + " = '' THEN '' WHEN " + c + " ~ ':[^/]*$' THEN regexp_replace(" + c +
           ", ':$', ':latest') ELSE " + c + " || ':latest' END)";
}

std::vector<std::string> model_name_spellings(std::string_view name) {
    auto normalized = normalize_model_name(name);
    constexpr std::string_view latest = ":latest";
    std::vector<std::string> out{normalized};
    if (normalized.ends_with(latest)) {
        auto base = normalized.substr(0, normalized.size() - latest.size());
        out.push_back(base);
        out.push_back(base + ":");
    }
    return out;
}

}  // namespace llmp::monitor

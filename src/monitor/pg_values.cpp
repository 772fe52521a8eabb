#include "monitor/pg_values.hpp"

#include <cstdlib>

namespace llmp::monitor {

double as_double(const std::optional<std::string>& v) {
    if (!v || v->empty()) {
        return 0;
    }
    char* end = nullptr;
    double d = std::strtod(v->c_str(), &end);
    return end == v->c_str() ? 0 : d;
}

std::int64_t as_int(const std::optional<std::string>& v) {
    if (!v || v->empty()) {
        return 0;
    }
    return std::strtoll(v->c_str(), nullptr, 10);
}

nlohmann::json number_or_null(const std::optional<std::string>& v) {
    if (!v) {
        return nullptr;
    }
    return as_double(v);
}

nlohmann::json text_or_null(const std::optional<std::string>& v) {
    if (!v) {
        return nullptr;
    }
    return *v;
}

bool as_bool(const std::optional<std::string>& v) {
    return v && *v == "t";
}

std::vector<std::string> as_text_array(const std::optional<std::string>& v) {
    std::vector<std::string> out;
    if (!v || v->size() < 2) {
        return out;
    }
    std::string_view s{*v};
    s = s.substr(1, s.size() - 2);  // strip { }
    std::string cur;
    bool quoted = false;
    bool any = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (quoted) {
            if (c == '\\' && i + 1 < s.size()) {
                cur += s[++i];
            } else if (c == '"') {
                quoted = false;
            } else {
                cur += c;
            }
        } else if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',') {
            out.push_back(std::move(cur));
            cur.clear();
            any = false;
        } else {
            cur += c;
            any = true;
        }
    }
    if (any || !cur.empty()) {
        out.push_back(std::move(cur));
    }
    return out;
}

std::vector<double> as_double_array(const std::optional<std::string>& v, std::size_t expect) {
    std::vector<double> out;
    for (const auto& s : as_text_array(v)) {
        out.push_back(s == "NULL" ? 0 : as_double(s));
    }
    out.resize(std::max(out.size(), expect), 0.0);
    return out;
}

nlohmann::json percentiles(const std::optional<std::string>& v) {
    auto a = as_double_array(v, 3);
    return {{"p50", a[0]}, {"p95", a[1]}, {"p99", a[2]}};
}

}  // namespace llmp::monitor

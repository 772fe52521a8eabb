#include "monitor/key_budgets.hpp"

#include "keys/key_rules.hpp"
#include "monitor/pg_values.hpp"

#include <algorithm>

namespace llmp::monitor {
namespace {

using nlohmann::json;

json optional_number(const std::optional<std::int64_t>& v) {
    return v ? json(*v) : json(nullptr);
}

json remaining(const std::optional<std::int64_t>& budget, std::int64_t used) {
    return budget ? json(std::max<std::int64_t>(0, *budget - used)) : json(nullptr);
}

/// Tokens per key id since the start of this UTC month, and of them since the start of today.
constexpr const char* used_sql = R"sql(
SELECT key_id,
       coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0))
                FILTER (WHERE completed_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), 0),
       coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)), 0)
FROM responses
WHERE key_id IS NOT NULL AND completed_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
GROUP BY key_id)sql";

}  // namespace

void add_limit_fields(json& j, const keys::key_limits& l) {
    for (std::size_t i = 0; i < keys::limit_rules.size(); ++i) {
        j[std::string{keys::limit_rules[i].field}] = optional_number(keys::limit_of(l, i));
    }
}

json budget_json(const keys::key_listing& k, const tokens_used& used) {
    json j{{"key_id", k.id},
           {"key_name", k.name},
           {"owner", k.owner},
           {"role", std::string{keys::role_name(k.role)}},
           {"created_at", k.created_at},
           {"expires_at", k.expires_at ? json(*k.expires_at) : json(nullptr)},
           {"revoked_at", k.revoked_at ? json(*k.revoked_at) : json(nullptr)}};
    add_limit_fields(j, k.limits);
    j["used_today"] = used.today;
    j["used_month"] = used.month;
    j["remaining_today"] = remaining(k.limits.tokens_per_day, used.today);
    j["remaining_month"] = remaining(k.limits.tokens_per_month, used.month);
    return j;
}

result<json> query_key_budgets(pg::connection& c) {
    auto listed = keys::list_keys(c);
    if (!listed) {
        return listed.error();
    }
    auto r = c.query(used_sql);
    if (!r) {
        return r.error();
    }
    std::map<std::string, tokens_used> used;
    for (const auto& row : r.value().rows) {
        used[row[0].value_or("")] = {as_int(row[1]), as_int(row[2])};
    }
    json list = json::array();
    for (const auto& k : listed.value()) {
        auto u = used.find(k.id);
        list.push_back(budget_json(k, u == used.end() ? tokens_used{} : u->second));
    }
    return json{{"keys", std::move(list)}};
}

}  // namespace llmp::monitor

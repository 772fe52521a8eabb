#pragma once
// key_budgets: the keys page's numbers (issue 14 item 5) behind GET /api/usage/budgets — every
// key with its limits and the tokens (prompt + completion) its requests used this UTC day and
// this UTC month according to the audit's responses, next to its daily and monthly budget.
// Viewers and admins read it (names, owners, roles, limits and counts: no texts, no key
// prefixes); key_admin.hpp's listings carry the same limit fields. The audit is the accountant
// here; the API servers' limiter counts the same tokens in Redis, so both agree up to the
// requests still in flight or not yet written by the audit.
//
// Threading: query_tokens_used and query_key_budgets run on a db_pool thread over its connection; the JSON helpers
// are pure.

#include "common/result.hpp"
#include "keys/api_key.hpp"
#include "keys/key_store.hpp"
#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace llmp::monitor {

/// Tokens a key used (prompt + completion, from responses).
struct tokens_used {
    std::int64_t today = 0;
    std::int64_t month = 0;
};

/// Adds the limit fields of keys::limit_rules ("rpm", "tpm", "max_streams", "daily_tokens",
/// "monthly_tokens", "priority_ceiling"; null = unlimited) to `j`.
void add_limit_fields(nlohmann::json& j, const keys::key_limits& l);

/// One key of /api/usage/budgets: {key_id, key_name, owner, role, created_at, expires_at,
/// revoked_at, <limit fields>, used_today, used_month, remaining_today, remaining_month}
/// (remaining_* null when that budget is unlimited, never below 0).
nlohmann::json budget_json(const keys::key_listing& k, const tokens_used& used);

/// What "today" and "this month" mean for the budgets at a given instant (unix ms): the UTC
/// day's and month's starts (exclusive) up to that instant (inclusive).
struct used_bounds {
    std::int64_t day_from_ms = 0;
    std::int64_t month_from_ms = 0;
    std::int64_t to_ms = 0;
};
used_bounds used_bounds_at(std::int64_t now_ms);

/// The tokens per key id over those bounds, from the rollups (rollup_sql.hpp: the same sums as
/// the responses', read from thousands of rows instead of a month of them):
/// {"<key id>": {"today": n, "month": n}}, keys without tokens absent.
result<nlohmann::json> query_tokens_used(pg::connection& c, const used_bounds& b);

/// {"keys": [budget_json...]} for every key, oldest first, with the tokens of `used` (as
/// query_tokens_used answers). The keys are read now; `used` may be a few seconds old.
result<nlohmann::json> query_key_budgets(pg::connection& c, const nlohmann::json& used);

}  // namespace llmp::monitor

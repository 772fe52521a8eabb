#pragma once
// key_usage_queries: usage per API key (issue 14 item 7) behind /api/usage/keys (the window's
// totals per key), /api/usage/daily and its CSV export (per key per UTC day). Keys are grouped
// by id (requests and responses carry key_id and key_name since audit migration 8) and named by
// their current name in api_keys when the key still exists there, else by the name stored with
// the rows; requests without a key (--auth none) form one group with a null id. `received`
// counts requests by when they came in, the other columns responses by when they ended (as
// /api/overview). Queries run on a db_pool thread; the parsing and the CSV are pure.

#include "common/result.hpp"
#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmp::monitor {

/// [from_ms, to_ms) in unix ms.
struct usage_range {
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
};

/// Longest range /api/usage/daily answers.
inline constexpr std::int64_t max_usage_days = 400;

/// `from` / `to` as unix ms or a UTC day "YYYY-MM-DD" (its midnight); `to` defaults to now,
/// `from` to the midnight 29 days before the day of `to` (30 days with today). Fails with
/// invalid_field for other text, from >= to, or more than max_usage_days.
result<usage_range> parse_usage_range(const std::optional<std::string>& from, const std::optional<std::string>& to,
                                      std::int64_t now_ms);

/// {"window_s", "keys": [{key_id|null, key_name|null, revoked, received, requests, errors,
/// cancelled, prompt_tokens, completion_tokens, total_tokens, error_rate}]} over the last
/// `window_s` seconds, most tokens first.
result<nlohmann::json> query_key_usage(pg::connection& c, std::int64_t window_s);

/// {"from_ms", "to_ms", "days": [{day "YYYY-MM-DD", key_id|null, key_name|null, received,
/// requests, errors, cancelled, prompt_tokens, completion_tokens, total_tokens}]} by day, then
/// key name.
result<nlohmann::json> query_daily_usage(pg::connection& c, const usage_range& range);

/// The same over `from` / `to` as the client gave them (parse_usage_range), "now" read as it
/// runs: a job shared_reads keeps is run again later (rewarm), and must answer up to then.
result<nlohmann::json> query_daily_usage(pg::connection& c, const std::optional<std::string>& from,
                                         const std::optional<std::string>& to);

/// The "days" of query_daily_usage as CSV, header row first (csv.hpp quoting).
std::string daily_usage_csv(const nlohmann::json& daily);

/// "llmproxy-usage-<from day>-<to day>.csv" for Content-Disposition.
std::string daily_usage_filename(const usage_range& range);

}  // namespace llmp::monitor

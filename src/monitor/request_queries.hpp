#pragma once
// request_queries: the request history (/api/requests) and one request in full
// (/api/requests/{id}). The list pages with a keyset on (received_at, request_id) — never
// OFFSET — and carries only a short preview of each prompt. The text search (ILIKE) reads the
// trigram index of request_search, which the audit fills off its ingest path (pg migration 28,
// audit/search_index.hpp), and scans the few requests still queued for it (search_backlog),
// within the other filters and the time window. A search without from= or window= looks at the
// last day only (default_search_window_s); one the index cannot narrow (under three characters,
// or a word in most requests over a long window) is bounded by the pool's statement_timeout
// (504 query_timeout).
// `pending` looks back pending_horizon_s only, newest first through the keyset index: older
// requests without a response are lost, not pending (issue 19).
// Runs on a db_pool thread.

#include "common/result.hpp"
#include "monitor/cursor.hpp"
#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llmp::monitor {

struct request_filter {
    std::optional<std::string> model;
    std::optional<std::string> status;  ///< ok | error | cancelled | pending (no response yet)
    std::optional<std::string> worker;
    std::optional<std::string> key;   ///< an API key's id, or its name (as api_keys has it now)
    std::optional<std::string> from;  ///< received_at >= (ISO 8601 or unix ms)
    std::optional<std::string> to;    ///< received_at <  (ISO 8601 or unix ms)
    std::optional<std::string> text;  ///< substring of the prompt or messages, case-insensitive
    /// received_at > (to, or now) - window_s; a text search without `from` defaults to a day.
    std::optional<std::int64_t> window_s;
    std::optional<cursor> after;  ///< the previous page's next_cursor
    int limit = 50;
};

/// Checks values (status name, limit 1..500, times); fails with "invalid_field".
result<void> validate(const request_filter& f);

/// The text search's covered range (search_coverage, pg migration 36): the closed days searched
/// through their partitions' own trigram indexes, [from, until) as timestamptz text.
struct search_range {
    std::string from;
    std::string until;
};
/// Reads it in the caller's snapshot, narrowed to the filter's time bounds; nullopt when they
/// reach no covered day.
result<std::optional<search_range>> read_search_coverage(pg::connection& c, const request_filter& f);

/// The list's statement for a filter and the covered range read in its snapshot: what
/// query_requests runs (tests and the bench EXPLAIN it).
struct request_list_query {
    std::string sql;
    std::vector<std::optional<std::string>> params;
    std::optional<std::int64_t> window_s;  ///< the window applied (a text search's default included)
};
request_list_query request_list_sql(const request_filter& f, const std::optional<search_range>& covered);

/// {"requests": [...], "next_cursor": "..." | null}
result<nlohmann::json> query_requests(pg::connection& c, const request_filter& f);
/// The request, its response and chunk timings; error "not_found" when neither row exists.
result<nlohmann::json> query_request_detail(pg::connection& c, const std::string& request_id);

/// How far back status=pending looks: the API's longest deadline (an hour, api/config.hpp
/// max_request_timeout) plus an hour of audit lag. A request older than this without a response
/// never gets one (the API writes its own verdict at the deadline).
inline constexpr std::int64_t pending_horizon_s = 2 * 3600;
/// The window of a text search given neither from= nor window=.
inline constexpr std::int64_t default_search_window_s = 86400;

/// Characters of the prompt preview in list rows.
inline constexpr int preview_chars = 160;

}  // namespace llmp::monitor

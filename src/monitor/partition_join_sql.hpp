#pragma once
// partition_join_sql: how a monitor query pairs a request with its response so that PostgreSQL
// reads one day partition, not every one. `requests` is partitioned by received_at and
// `responses` by request_received_at, the request's time (pg migration 29); a response stored
// without it (by a process older than that migration) has '-infinity' there. A join by
// request_id alone probes the request_id index of every partition (a month of retention: ~30
// probes a row); naming the partition column lets the planner prune to the request's day, and
// to the '-infinity' rows as a fallback, as the rollup trigger does (llmp_rollup_sql). Pure
// functions building SQL text; no state, any thread.

#include <string>
#include <string_view>

namespace llmp::monitor {

/// A join condition of responses `r` to requests `q` (aliases as given): the same request,
/// looked up in the request's day partition and among the responses stored without the
/// request's time.
std::string response_of_request_sql(std::string_view q = "q", std::string_view r = "r");

/// A scalar subquery: the column `column` of the request of response `r` (NULL when no request
/// row exists), read from the request's day partition, or by id from every partition when the
/// response carries no request time.
std::string request_column_of_response_sql(std::string_view column, std::string_view r = "r");

/// An expression: when the request of response `r` was received. The response's own copy of
/// it, or the request row's for a response stored without it (NULL when neither is known).
std::string request_received_at_of_response_sql(std::string_view r = "r");

}  // namespace llmp::monitor

#pragma once
// COPY text format for the audit tables (protocols.md §6.1): TAB-separated columns, one row per
// line, \N for NULL, and backslash, TAB, LF and CR escaped; timestamps as ISO 8601 in UTC.
//
// A batch goes into PostgreSQL one of two ways (pg_writer chooses):
//  - direct: COPY straight into `requests` / `responses` / `response_chunks`. One heap write
//    and one index insert per row and index: the fast path, taken first.
//  - staged: COPY into a temp table shaped like the real one, then INSERT ... SELECT ...
//    ON CONFLICT DO NOTHING, so a request id already stored (a redelivered message) is skipped
//    instead of failing the batch. Taken when the direct COPY was refused. `responses` merges
//    instead where an API server's verdict meets its worker's report (record.hpp, reported_by).
// Both take the same rows in the same column order.
//
// Pure functions, any thread.

#include "audit/record.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace llmp::audit::copy_format {

/// Appends one escaped field (without separator).
void append_field(std::string& out, std::string_view value);
/// Appends `ms` since the Unix epoch as "YYYY-MM-DD HH:MM:SS.mmm+00" (timestamptz input).
void append_timestamp(std::string& out, std::int64_t ms);

void append_row(std::string& out, const request_row& r);
void append_row(std::string& out, const response_row& r);
void append_row(std::string& out, const chunk_row& r);
void append_row(std::string& out, const chunk_rows& r);

/// The statements for one audit table, in the column order of its append_row.
struct table_statements {
    std::string copy;                 ///< COPY <table> (columns) FROM STDIN
    std::string copy_staging;         ///< COPY stage_<table> (columns) FROM STDIN
    std::string insert_from_staging;  ///< INSERT INTO <table> ... SELECT ... ON CONFLICT ...
};

/// Indexed like the record variant: 0 requests, 1 responses, 2 response_chunks.
const table_statements& statements(std::size_t record_index);

/// CREATE TEMP TABLE statements for the staging tables (run once per session, after the
/// migrations: they copy the real tables' columns).
extern const std::string_view create_staging_sql;

/// Parameters: $1 worker_id, $2 host, $3 provider, $4 models (JSON array), $5 concurrency,
/// $6 in_flight, $7 tokens_per_s, $8 requests_total, $9 tokens_total, $10 sent_at_ms, $11 leaving.
extern const std::string_view upsert_worker_sql;

}  // namespace llmp::audit::copy_format

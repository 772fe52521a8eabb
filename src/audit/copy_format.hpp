#pragma once
// COPY text format for the staging tables the writer fills each batch (protocols.md §6.1):
// TAB-separated columns, one row per line, \N for NULL, and backslash, TAB, LF and CR escaped.
// The staging tables mirror the row structs (timestamps as epoch milliseconds); the INSERT ...
// SELECT that moves rows into the real tables converts them and skips request ids already
// stored (ON CONFLICT DO NOTHING), so a redelivered message never makes a second row.
//
// Pure functions, any thread.

#include "audit/record.hpp"

#include <string>
#include <string_view>

namespace llmp::audit::copy_format {

/// Appends one escaped field (without separator).
void append_field(std::string& out, std::string_view value);

void append_row(std::string& out, const request_row& r);
void append_row(std::string& out, const response_row& r);
void append_row(std::string& out, const chunk_row& r);

/// CREATE TEMP TABLE statements for the staging tables (run once per session).
extern const std::string_view create_staging_sql;

extern const std::string_view copy_requests_sql;
extern const std::string_view copy_responses_sql;
extern const std::string_view copy_chunks_sql;
extern const std::string_view insert_requests_sql;
extern const std::string_view insert_responses_sql;
extern const std::string_view insert_chunks_sql;
/// Parameters: $1 worker_id, $2 host, $3 provider, $4 models (JSON array), $5 concurrency,
/// $6 in_flight, $7 tokens_per_s, $8 requests_total, $9 tokens_total, $10 sent_at_ms, $11 leaving.
extern const std::string_view upsert_worker_sql;

}  // namespace llmp::audit::copy_format

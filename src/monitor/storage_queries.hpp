#pragma once
// storage_queries: what the audit history costs and how long it is kept (/api/storage, issue 19):
// the database's size and its largest tables' (heap, TOAST and indexes), and the retention the
// audit service applies (audit_retention, pg migration 22; null before an audit service with
// retention ran, which means everything is kept). Runs on a db_pool thread.

#include "common/result.hpp"
#include "pg/connection.hpp"

#include <nlohmann/json.hpp>

namespace llmp::monitor {

/// {"database_bytes", "tables": {"requests": bytes, ...}, "retention": {...} | null}
result<nlohmann::json> query_storage(pg::connection& c);

}  // namespace llmp::monitor

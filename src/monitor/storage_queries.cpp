#include "monitor/storage_queries.hpp"

#include "monitor/pg_values.hpp"

namespace llmp::monitor {

using nlohmann::json;

result<json> query_storage(pg::connection& c) {
    // Sizes come from the files' sizes (no table is read); to_regclass keeps an older schema
    // (no rollups, no audit_retention yet) answering. A partitioned table (requests, responses:
    // pg migration 29) has no files of its own: the sum of its partitions'.
    auto sizes = c.query(R"sql(
SELECT pg_database_size(current_database()), t.name,
       (SELECT sum(pg_total_relation_size(p.relid))::bigint FROM pg_partition_tree(to_regclass(t.name)) p)
FROM unnest(ARRAY['requests', 'responses', 'response_chunks', 'response_rollups', 'request_rollups', 'error_rollups', 'response_series',
                    'pending_requests', 'search_backlog', 'request_search']) AS t(name)
WHERE to_regclass(t.name) IS NOT NULL)sql");
    if (!sizes) {
        return sizes.error();
    }
    json out{{"database_bytes", nullptr}, {"tables", json::object()}, {"retention", nullptr}};
    for (const auto& row : sizes.value().rows) {
        out["database_bytes"] = as_int(row[0]);
        out["tables"][row[1].value_or("")] = as_int(row[2]);
    }
    auto kept = c.query(R"sql(
SELECT request_days, rollup_days, (extract(epoch FROM updated_at) * 1000)::bigint,
       (extract(epoch FROM last_run_at) * 1000)::bigint, last_deleted
FROM audit_retention)sql");
    if (!kept) {
        // A database the audit service has not migrated to version 22 yet: nothing deleted.
        if (kept.error().code == pg::schema_error) {
            return out;
        }
        return kept.error();
    }
    if (!kept.value().rows.empty()) {
        const auto& row = kept.value().rows.front();
        out["retention"] = {{"request_days", as_int(row[0])},
                            {"rollup_days", as_int(row[1])},
                            {"updated_at_ms", number_or_null(row[2])},
                            {"last_run_at_ms", number_or_null(row[3])},
                            {"last_deleted", as_int(row[4])}};
    }
    return out;
}

}  // namespace llmp::monitor

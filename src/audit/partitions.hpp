#pragma once
// partitions: the day partitions of `requests` (by received_at) and `responses` (by the
// request's received_at), pg migration 29. The retention thread creates each day's partition
// ahead of time and drops whole expired days; the legacy partition (the tables as they were
// before the conversion, FROM MINVALUE to a bound) and the DEFAULT partition (stragglers) are
// trimmed by retention's batched DELETE instead, and the legacy one is dropped too once its
// bound has expired.
//
// Dropping uses a plain DETACH PARTITION, not DETACH ... CONCURRENTLY: PostgreSQL refuses the
// concurrent form on a table with a DEFAULT partition ("cannot detach partitions concurrently
// when a default partition exists"), and the DEFAULT partition is what keeps a row whose time
// falls outside every day (a skewed clock, a message from an older process) from being refused.
// The plain form takes an ACCESS EXCLUSIVE lock on the parent for the catalog change only (no
// scan), under a short lock_timeout: a drop that would wait behind a long query gives up and is
// retried at the next pass, so the writer never waits on it for more than that timeout.
// Creating a day ATTACHes an empty table (SHARE UPDATE EXCLUSIVE on the parent; the DEFAULT
// partition is scanned for rows of that day, it holds few).
//
// Threading: the caller's thread and connection (the retention thread's).

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::pg {
class connection;
}

namespace llmp::audit {

/// The partitioned tables and their partition columns.
struct partitioned_table {
    const char* name;
    const char* column;
};
inline constexpr partitioned_table partitioned_tables[] = {{"requests", "received_at"},
                                                           {"responses", "request_received_at"}};

/// Creates the missing day partitions (UTC days) of both tables from the day of `from` (a
/// timestamptz literal; "now" for the current time) to `days_ahead` days later, skipping the
/// days an existing partition covers (the legacy one's). Returns how many it created; a day it
/// cannot create (a lock wait past the timeout, rows of that day in the DEFAULT partition
/// already) is logged and skipped.
result<int> create_day_partitions(pg::connection& c, const std::string& from, int days_ahead);

/// What drop_expired_partitions did.
struct dropped_partitions {
    int partitions = 0;
    std::int64_t requests = 0;  ///< rows, as PostgreSQL's statistics estimate them (no count(*) of a day)
    std::int64_t responses = 0;
};

/// Detaches and drops every range partition of both tables whose upper bound is at or before
/// `cutoff` (a timestamptz literal): whole expired days, and the legacy partition once its
/// bound is past. A partition that cannot be locked within the timeout is left for next time.
/// Dropping a partition of `requests` moves the text search's coverage (search_coverage, pg
/// migration 36) past it in the same transaction, so the coverage never names a range without
/// a partition.
result<dropped_partitions> drop_expired_partitions(pg::connection& c, const std::string& cutoff);

/// A SELECT of the range partitions of the table named by $1 (every partition but the DEFAULT
/// one): name, lo and hi (timestamptz; MINVALUE as -infinity), n (estimated rows).
std::string_view range_partitions_sql();

/// The partitions of `table` that are not day partitions (the legacy one, the DEFAULT one):
/// what retention trims by batched DELETE. A table that is not partitioned: itself.
result<std::vector<std::string>> trimmed_partitions(pg::connection& c, const std::string& table);

}  // namespace llmp::audit

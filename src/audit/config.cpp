#include "audit/config.hpp"

#include "pg/connection.hpp"

namespace llmp::audit {

result<void> audit_config::validate() const {
    if (batch_rows < 1 || batch_rows > 100000) {
        return fail("bad_config", "batch rows must be between 1 and 100000");
    }
    if (batch_time.count() < 1) {
        return fail("bad_config", "batch time must be at least 1 ms");
    }
    if (prefetch < 1 || prefetch > 65535) {
        return fail("bad_config", "prefetch must be between 1 and 65535");
    }
    if (retry_min.count() < 1 || retry_max < retry_min) {
        return fail("bad_config", "retry bounds must satisfy 1 <= min <= max");
    }
    if (backlog_interval.count() < 100) {
        return fail("bad_config", "backlog sample interval must be at least 100 ms");
    }
    if (retention_days < 0 || rollup_retention_days < 0) {
        return fail("bad_config", "retention days must be 0 (keep forever) or more");
    }
    if (rollup_retention_days > 0 && (retention_days == 0 || rollup_retention_days < retention_days)) {
        // The dashboard's wide windows read the rollups where the rows are still there.
        return fail("bad_config", "the rollups must be kept at least as long as the requests");
    }
    if (retention_interval.count() < 100) {
        return fail("bad_config", "retention interval must be at least 100 ms");
    }
    return pg::check_url(database_url);
}

}  // namespace llmp::audit

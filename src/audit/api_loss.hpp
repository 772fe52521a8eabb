#pragma once
// api_loss: what the audit stores for a request whose API server died before it confirmed the
// answer reached its client (docs/architecture.md, Audit: "Delivery confirmations").
//
// The ledger (pg migration 31): `api_servers` (one row per API server that confirms: when it
// was last heard from, left cleanly, or judged lost) and `api_deliveries` (one row per
// non-empty confirmation: the server, when it sent it, the request ids). The writer records
// each confirmation in the transaction of its batch, and after a commit (at most once a second)
// judges the servers silent for longer than --api-lost-after-ms lost: their worker reports in
// the window before their last word that no confirmation names become error `api_lost`; a
// worker report of a server already judged lost gets it as it is stored.
//
// Pure functions and SQL text, callable from any thread; the writer thread runs the SQL.

#include "audit/record.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmp::audit::api_loss {

/// The outcome of a worker report (`reported_by` "worker") its API server never confirmed
/// delivering before it was lost: status error, code api_lost (common/errc.hpp). An API
/// verdict (reported_by api/both) is that server's own word and stays. True if `r` changed.
bool mark_lost(response_row& r);

/// Reports completed this long before their server's last confirmation may still have been on
/// their way to the client: the judgement looks at them (and at the confirmations sent since a
/// minute before that, for clock skew between hosts).
inline constexpr std::chrono::milliseconds judged_window{60000};

/// The audit's clock for the judgement, in ms: its own wall clock while it keeps up with the
/// queue (`caught_up`: it took a batch that was not full and nothing waits), else the newest
/// confirmation it has read: behind a backlog, a server's later confirmations may still be
/// queued, and only time as the messages tell it may pass.
std::int64_t judgement_clock_ms(bool caught_up, std::int64_t now_ms, std::int64_t newest_confirmation_ms);

/// `ids` as a PostgreSQL text[] literal ({"a","b"}, with " and \ escaped).
std::string text_array_literal(const std::vector<std::string>& ids);

/// $1 server id, $2 sent_at (ms), $3 leaving ('true'/'false'), $4 request ids (text[]; may
/// be empty: a keep-alive stores no api_deliveries row). A server heard again after it was
/// judged lost is live again (lost_at cleared); what was relabelled stays.
inline constexpr std::string_view record_confirmation_sql = R"sql(
WITH seen AS (
    INSERT INTO api_servers AS s (server_id, first_seen, last_seen, left_at)
    VALUES ($1, to_timestamp($2::bigint / 1000.0), to_timestamp($2::bigint / 1000.0),
            CASE WHEN $3::boolean THEN to_timestamp($2::bigint / 1000.0) END)
    ON CONFLICT (server_id) DO UPDATE
        SET last_seen = greatest(s.last_seen, excluded.last_seen),
            left_at = coalesce(excluded.left_at, s.left_at),
            lost_at = CASE WHEN excluded.last_seen > s.last_seen THEN NULL ELSE s.lost_at END
    RETURNING 1
)
INSERT INTO api_deliveries (server_id, sent_at, request_ids)
SELECT $1, to_timestamp($2::bigint / 1000.0), $4::text[]
WHERE cardinality($4::text[]) > 0 AND EXISTS (SELECT 1 FROM seen)
)sql";

/// $1 the judgement clock (ms), $2 --api-lost-after-ms, $3 judged_window (ms). Marks the
/// servers silent past the horizon (not those that left cleanly) lost and relabels their
/// unconfirmed worker reports; returns the relabelled request ids.
inline constexpr std::string_view judge_lost_sql = R"sql(
WITH lost AS (
    UPDATE api_servers SET lost_at = now()
    WHERE lost_at IS NULL AND left_at IS NULL
      AND last_seen < to_timestamp(($1::bigint - $2::bigint) / 1000.0)
    RETURNING server_id, last_seen
)
UPDATE responses r
SET status = 'error', error_code = 'api_lost', retryable = true,
    error_message = 'the API server relaying this answer (' || r.server_id ||
                    ') was lost before it confirmed that its client received it'
FROM lost
WHERE r.server_id = lost.server_id
  AND r.completed_at > lost.last_seen - make_interval(secs => $3::bigint / 1000.0)
  AND r.reported_by = 'worker'
  AND NOT EXISTS (
      SELECT 1 FROM api_deliveries d
      WHERE d.server_id = lost.server_id
        AND d.sent_at > lost.last_seen - make_interval(secs => $3::bigint / 1000.0) - interval '1 minute'
        AND r.request_id = ANY (d.request_ids))
RETURNING r.request_id, r.server_id
)sql";

/// The servers judged lost in the last day: their later worker reports are relabelled as stored.
inline constexpr std::string_view lost_servers_sql =
    "SELECT server_id FROM api_servers WHERE lost_at IS NOT NULL AND lost_at > now() - interval '1 day'";

/// The ledger keeps a day: the judgement reads a few minutes of it.
inline constexpr std::string_view prune_sql = R"sql(
DELETE FROM api_deliveries WHERE sent_at < now() - interval '1 day';
DELETE FROM api_servers WHERE last_seen < now() - interval '7 days';
)sql";

}  // namespace llmp::audit::api_loss

# shellcheck shell=bash
# Streams under failure, client side and audit side: what the end-to-end failure scripts
# (scripts/cluster-e2e, scripts/host-loss-e2e) share. Source this file.
#
#   llmp_stream_request <dir> <n> <api-url> <max-seconds> [model]
#       one streaming POST /api/chat (a mock answer) with curl, bounded by <max-seconds>; writes
#       <dir>/<n>.headers, .body, .err, .code ("<http-code> <curl-exit>"), .t ("<start> <end>
#       <api-url>", epoch seconds) and last an empty <dir>/<n>.done
#   llmp_stream_outcome <dir> <n>
#       prints "<outcome> <kind> <request-id>" for what the client of request <n> saw:
#         ok       HTTP 200 and the stream's last event is `done`            (kind done)
#         error    HTTP 200 and the last event is `error`                    (kind: its code)
#         cut      HTTP 200, then the connection ended without either        (kind curl-exit-N)
#         hung     curl's time bound ended it (exit 28), whatever came first (kind curl-exit-28)
#         refused  no HTTP 200: nothing was accepted                         (kind http-NNN:code
#                  or curl-exit-N, e.g. curl-exit-7 = connection refused)
#       the request id is the X-Request-Id header ("-" without one)
#   llmp_audit_check <database-url> <saw-file> <timeout-seconds>
#       <saw-file>: "<request-id> <outcome> <kind>" per request the system accepted (ok, error,
#       cut). Waits (bounded) until each has a response row, then prints "<missing> <mismatched>
#       <duplicated> <cut-stored-ok>": no request row or no response row; a response status other than what the
#       client saw (ok -> ok, error -> error, or cancelled for code `cancelled`, cut -> error with
#       code `api_lost`: a client cut by its API server's death saw no `done`, and the audit
#       stores api_lost for the answers that server never confirmed delivering); more than one
#       row of either (impossible with the primary keys; counted in case the schema changes); and,
#       of the mismatches, the cut streams stored `ok` (what the audit stored before delivery
#       confirmations: the worker's report). Logs each one.

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

llmp_stream_request() {
    local dir="$1" n="$2" api="$3" max="$4" model="${5:-mock:latest}" start code rc=0
    start="$EPOCHREALTIME"
    code="$(curl -sS -N --max-time "$max" -o "$dir/$n.body" -D "$dir/$n.headers" -w '%{http_code}' \
        "$api/api/chat" -H 'Content-Type: application/json' \
        -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"stream $n\"}]}" \
        2>"$dir/$n.err")" || rc=$?
    printf '%s %s\n' "${code:-000}" "$rc" >"$dir/$n.code"
    printf '%s %s %s\n' "$start" "$EPOCHREALTIME" "$api" >"$dir/$n.t"
    : >"$dir/$n.done"
}

llmp_stream_outcome() {
    local dir="$1" n="$2" http rc id="-" last kind code
    read -r http rc <"$dir/$n.code"
    if [[ -f "$dir/$n.headers" ]]; then
        id="$(tr -d '\r' <"$dir/$n.headers" | awk -F': ' 'tolower($1) == "x-request-id" {print $2}' | tail -n1)"
        [[ -n "$id" ]] || id="-"
    fi
    if ((rc == 28)); then
        printf 'hung curl-exit-28 %s\n' "$id"
    elif [[ "$http" != 200 ]]; then
        if [[ "$http" == 000 ]]; then
            kind="curl-exit-$rc"
        else
            kind="http-$http"
            code="$(grep -o '"code":"[^"]*"' "$dir/$n.body" 2>/dev/null | head -n1 | cut -d'"' -f4)"
            [[ -z "$code" ]] || kind+=":$code"
        fi
        printf 'refused %s %s\n' "$kind" "$id"
    else
        last="$(grep '^event: ' "$dir/$n.body" 2>/dev/null | tail -n1)"
        if [[ "$last" == "event: done" ]]; then
            printf 'ok done %s\n' "$id"
        elif [[ "$last" == "event: error" ]]; then
            kind="$(grep -A1 '^event: error' "$dir/$n.body" | grep -o '"code":"[^"]*"' | tail -n1 | cut -d'"' -f4)"
            printf 'error %s %s\n' "${kind:-unknown}" "$id"
        else
            printf 'cut curl-exit-%s %s\n' "$rc" "$id"
        fi
    fi
}

llmp_audit_check() {
    local db="$1" saw="$2" timeout="$3" deadline=$((SECONDS + $3)) pending
    # psql takes one meta-command per -c; the -c's of one call share a session (the temp table).
    local load=(-c 'CREATE TEMP TABLE saw (id text COLLATE "C", outcome text, kind text)'
        -c "\\copy saw FROM '$saw' (FORMAT text, DELIMITER ' ')")
    while :; do
        pending="$(psql -X -qAt "$db" -v ON_ERROR_STOP=1 "${load[@]}" \
            -c "SELECT count(*) FROM saw WHERE NOT EXISTS (SELECT 1 FROM responses s WHERE s.request_id = saw.id)" 2>&1 |
            tail -n1)"
        [[ "$pending" == 0 ]] && break
        ((SECONDS < deadline)) || {
            llmp_log "audit: $pending accepted requests still without a response row after ${timeout}s"
            break
        }
        sleep 0.5
    done
    # One line per accepted request that is not exactly right, then the three counts.
    psql -X -qAt "$db" -v ON_ERROR_STOP=1 "${load[@]}" -c "
        WITH c AS (
            SELECT saw.id, saw.outcome, saw.kind,
                   (SELECT count(*) FROM requests r WHERE r.request_id = saw.id) AS nreq,
                   (SELECT count(*) FROM responses s WHERE s.request_id = saw.id) AS nresp,
                   (SELECT min(s.status) FROM responses s WHERE s.request_id = saw.id) AS status,
                   (SELECT min(s.error_code) FROM responses s WHERE s.request_id = saw.id) AS code
            FROM saw),
        v AS (
            SELECT *, nreq = 0 OR nresp = 0 AS missing, nreq > 1 OR nresp > 1 AS duplicated,
                   nresp > 0 AND NOT CASE outcome
                       WHEN 'ok' THEN status = 'ok'
                       WHEN 'error' THEN status = CASE kind WHEN 'cancelled' THEN 'cancelled' ELSE 'error' END
                       WHEN 'cut' THEN status = 'error' AND code IS NOT DISTINCT FROM 'api_lost'
                       ELSE false END AS mismatched
            FROM c)
        SELECT 'row|' || id || '|' || outcome || '|' || kind || '|' || nreq || '|' || nresp || '|'
               || coalesce(status, '-') || coalesce('/' || code, '')
        FROM v WHERE missing OR mismatched OR duplicated
        UNION ALL
        SELECT 'counts|' || count(*) FILTER (WHERE missing) || '|' || count(*) FILTER (WHERE mismatched)
               || '|' || count(*) FILTER (WHERE duplicated)
               || '|' || count(*) FILTER (WHERE mismatched AND outcome = 'cut' AND status = 'ok')
        FROM v" | awk -F'|' '
        $1 == "row" { printf "audit: %s: client saw %s (%s); %s request rows, %s response rows, status %s\n",
                             $2, $3, $4, $5, $6, $7 > "/dev/stderr" }
        $1 == "counts" { print $2, $3, $4, $5 }'
}

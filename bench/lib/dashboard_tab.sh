# shellcheck shell=bash
# What an open dashboard tab asks the monitor (web/src/main.js, keys.js, storage.js, errors.js):
# every 2 s, each window-dependent read at the tab's window and the window-free ones, sent in
# parallel (the page sends them in three waves; sending them together only shortens a refresh).
# Sourced by bench/run_monitor_scale (what tabs cost) and bench/run_audit_ingest (ingest while
# a tab is open).

DASHBOARD_TAB_PATHS=("/api/overview?window=%s" "/api/timeseries?window=%s" "/api/models?window=%s"
    "/api/workers?window=%s" "/api/status" "/api/errors?window=%s" "/api/storage" "/api/usage/keys?window=%s"
    "/api/usage/daily" "/api/usage/budgets" "/api/requests?window=%s&limit=50")

# dashboard_tab <monitor base URL> <window> <delay s> <end, as llmp_now prints it>: waits the
# delay, then refreshes every 2 s (a refresh slower than that starts the next at once) until
# the end.
dashboard_tab() {
    local base="$1" w="$2" end="$4" p t0 left
    sleep "$3"
    while awk -v u="$end" -v n="$(llmp_now)" 'BEGIN { exit !(n < u) }'; do
        t0="$(llmp_now)"
        for p in "${DASHBOARD_TAB_PATHS[@]}"; do
            # shellcheck disable=SC2059 # the paths are the format
            curl -s -o /dev/null --max-time 30 "$base$(printf "$p" "$w")" &
        done
        wait
        left="$(awk -v a="$t0" -v n="$(llmp_now)" 'BEGIN { d = 2 - (n - a); printf "%.3f", (d > 0 ? d : 0) }')"
        sleep "$left"
    done
}

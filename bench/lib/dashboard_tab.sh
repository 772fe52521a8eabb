# shellcheck shell=bash
# What an open dashboard tab asks the monitor (web/src/main.js, keys.js, storage.js, errors.js):
# every 2 s, each window-dependent read at the tab's window and the window-free ones, sent in
# parallel (the page sends them in three waves; sending them together only shortens a refresh).
# Sourced by bench/run_monitor_scale (what tabs cost) and bench/run_audit_ingest (ingest while
# a tab is open), with the monitor the tabs talk to (dashboard_monitor_start).

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

# dashboard_monitor_start <llmproxy> <dir> <log> <database URL> <AMQP URL> <management URL>:
# starts `llmproxy monitor` (no auth, port chosen by the kernel, its pid and port files in <dir>)
# and waits until it answers; sets DASHBOARD_MONITOR_PID and DASHBOARD_MONITOR_BASE (its URL).
# The caller stops it (llmp_kill_tree).
dashboard_monitor_start() {
    local llmproxy="$1" dir="$2" log="$3" i
    local port_file="$dir/monitor.port"
    rm -f "$port_file"
    # shellcheck disable=SC2034 # for the caller, which stops it
    DASHBOARD_MONITOR_PID="$(llmp_spawn "$dir/monitor.pid" "$log" "$llmproxy" monitor --database-url "$4" \
        --port 0 --port-file "$port_file" --auth none --amqp-url "$5" --rabbitmq-mgmt-url "$6" --web-dir "$dir")"
    for ((i = 0; i < 300; i++)); do [[ ! -s "$port_file" ]] || break; sleep 0.1; done
    [[ -s "$port_file" ]] || llmp_die "the monitor did not start (see $log)"
    DASHBOARD_MONITOR_BASE="http://127.0.0.1:$(cat "$port_file")"
    llmp_wait_http "$DASHBOARD_MONITOR_BASE/healthz" 60 || llmp_die "the monitor does not answer (see $log)"
}

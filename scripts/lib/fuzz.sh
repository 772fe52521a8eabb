# shellcheck shell=bash
# The libFuzzer targets of tests/fuzz (tests/fuzz/README.md): build them (a separate clang build,
# -DLLMPROXY_FUZZ=ON) and run them, for scripts/test (a short pass) and scripts/fuzz (long runs).
# Source after common.sh.

LLMP_FUZZ_SRC="$ROOT/tests/fuzz"
LLMP_FUZZ_BUILD_DIR="${LLMP_FUZZ_BUILD_DIR:-$ROOT/build/fuzz}"

# llmp_fuzz_build: configure (once) and build every target; nothing else of the project.
llmp_fuzz_build() {
    local t0
    t0="$(llmp_now)"
    # -O1 with line tables: libFuzzer's recommendation, and symbolized stacks; not NDEBUG.
    cmake -S "$ROOT" -B "$LLMP_FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DLLMPROXY_FUZZ=ON >/dev/null ||
        return 1
    cmake --build "$LLMP_FUZZ_BUILD_DIR" --target fuzz_all -j"$(nproc)" || return 1
    llmp_log "fuzz targets built in $(llmp_elapsed "$t0") s"
}

# The target names (fuzz_<name> binaries of the fuzz build), one a line.
llmp_fuzz_targets() {
    local f
    for f in "$LLMP_FUZZ_BUILD_DIR"/tests/fuzz/fuzz_*; do
        [[ -x "$f" && "$f" != *fuzz_all ]] && basename "$f" | sed 's/^fuzz_//'
    done
}

# llmp_fuzz_run <target> <seconds> <workdir> [libFuzzer args...]
# Fuzzes from the committed seeds plus <workdir>/corpus (new finds are added there, never to the
# tree); crash, timeout and leak inputs go to <workdir>/artifacts/, the output to <workdir>/log.
# Returns libFuzzer's status (0: nothing found). The input size is capped (-max_len, default
# 4096): deep JSON nesting needs more and is tested by unit tests (tests/fuzz/README.md).
llmp_fuzz_run() {
    local target="$1" seconds="$2" work="$3"
    shift 3
    [[ "$work" = /* ]] || work="$PWD/$work"
    local bin="$LLMP_FUZZ_BUILD_DIR/tests/fuzz/fuzz_$target"
    local dict="$LLMP_FUZZ_SRC/dict/$target.dict" args=()
    [[ -x "$bin" ]] || llmp_die "no fuzz target $target (have: $(llmp_fuzz_targets | tr '\n' ' '))"
    mkdir -p "$work/corpus" "$work/artifacts"
    [[ -f "$dict" ]] && args+=(-dict="$dict")
    # A hard stop in case libFuzzer itself hangs; -timeout catches one slow input (a stall).
    (cd "$work" && exec timeout -k 10 "$((seconds + 120))" "$bin" -max_total_time="$seconds" \
        -max_len=4096 -timeout=10 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "${args[@]}" "$@" "$work/corpus" "$LLMP_FUZZ_SRC/corpus/$target") >"$work/log" 2>&1
}

# llmp_fuzz_summary <target> <workdir> <status>: one line, executions and speed from the log.
llmp_fuzz_summary() {
    local target="$1" work="$2" status="$3" runs speed
    runs="$(awk '/stat::number_of_executed_units:/ {print $2}' "$work/log" | tail -1)"
    speed="$(awk '/stat::average_exec_per_sec:/ {print $2}' "$work/log" | tail -1)"
    if ((status == 0)); then
        printf '  %-16s %9s execs  %6s/s  clean\n' "$target" "${runs:-?}" "${speed:-?}"
    else
        printf '  %-16s %9s execs  %6s/s  FAILED (exit %s): %s\n' "$target" "${runs:-?}" "${speed:-?}" \
            "$status" "$(grep -m1 -E 'ERROR|runtime error|fuzz check failed' "$work/log" | cut -c1-160)"
        printf '  %-16s input: %s\n' "" "$(find "$work/artifacts" -type f | head -3 | tr '\n' ' ')"
        printf '  %-16s log:   %s\n' "" "$work/log"
    fi
}

# llmp_fuzz_pass <seconds-per-target> <dir>: every target for a time box, as many at once as
# there are cores; prints one line per target. Fails if any target found something.
llmp_fuzz_pass() {
    local seconds="$1" dir="$2" t rc=0 running=0 status
    local -a targets
    mapfile -t targets < <(llmp_fuzz_targets)
    ((${#targets[@]})) || llmp_die "no fuzz targets under $LLMP_FUZZ_BUILD_DIR"
    rm -rf "$dir"
    mkdir -p "$dir"
    llmp_log "fuzzing ${#targets[@]} targets, ${seconds} s each, $(nproc) at a time (crashes: $dir)"
    for t in "${targets[@]}"; do
        if ((running >= $(nproc))); then
            wait -n || true
            running=$((running - 1))
        fi
        mkdir -p "$dir/$t"
        {
            status=0
            llmp_fuzz_run "$t" "$seconds" "$dir/$t" || status=$?
            echo "$status" >"$dir/$t/status"
        } &
        running=$((running + 1))
    done
    wait
    for t in "${targets[@]}"; do
        status="$(cat "$dir/$t/status" 2>/dev/null || echo 1)"
        llmp_fuzz_summary "$t" "$dir/$t" "$status" >&2
        ((status == 0)) || rc=1
    done
    return "$rc"
}

# shellcheck shell=bash
# Common helpers for llmproxy scripts. Source this file; do not execute it.
#
#   ROOT     repository root (derived from this file's location)
#   RUN_DIR  runtime state (private RabbitMQ/PostgreSQL, logs, env files);
#            defaults to $ROOT/.run

if [[ -n "${LLMP_COMMON_SH_LOADED:-}" ]]; then
    return 0
fi
LLMP_COMMON_SH_LOADED=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
RUN_DIR="${RUN_DIR:-$ROOT/.run}"

# scripts/test and scripts/up hold a lock on file descriptor 9; long-running
# services must not inherit it (see llmp_spawn, _llmp_pg_as).

# Debian packages needed to build, test and run llmproxy. Extend here.
LLMP_PACKAGES=(
    build-essential cmake ninja-build pkg-config git
    libboost-dev librabbitmq-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
    libsimdjson-dev libgtest-dev libgmock-dev googletest libpq-dev uuid-dev libssl-dev
    rabbitmq-server postgresql postgresql-contrib redis-server libhiredis-dev libtomlplusplus-dev
    curl perl procps iproute2 ccache
    nodejs chromium prometheus
    clang libclang-rt-14-dev llvm clang-format
)

llmp_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
llmp_die() { llmp_log "ERROR: $*"; exit 1; }

# Seconds since the epoch with sub-second precision (for timings).
llmp_now() { date +%s.%N; }
llmp_elapsed() { awk -v a="$1" -v b="$(llmp_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Install missing Debian packages (only touches apt when something is missing).
llmp_ensure_packages() {
    local missing=() pkg status
    for pkg in "${LLMP_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        if [[ "$status" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    llmp_log "installing missing packages: ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        sudo=(sudo)
    fi
    # Service starts are neither wanted nor possible (no systemd, policy-rc.d);
    # we always run private instances, so a failing postinst service start is
    # not a problem as long as the files are installed.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
}

# npm projects of the repository (each with a package-lock.json): the dashboard's front end
# (web/, built into web/dist and served by `llmproxy monitor`) and the official client SDKs
# and browser driver the tests use (tests/clients/). Node.js and npm come with the machine
# (Debian package nodejs); packages come from the npm registry, pinned by the lock files.
LLMP_NPM_DIRS=(web tests/clients)

# llmp_npm_install [dir...]: `npm ci` where node_modules is missing or older than the lock
# file, then `npm run build` where package.json has a build script.
llmp_npm_install() {
    local dirs=("$@") d
    ((${#dirs[@]})) || dirs=("${LLMP_NPM_DIRS[@]}")
    for d in "${dirs[@]}"; do
        [[ "$d" = /* ]] || d="$ROOT/$d"
        [[ -f "$d/package-lock.json" ]] || continue
        command -v npm >/dev/null || llmp_die "npm not found (needed for $d)"
        if [[ ! -f "$d/node_modules/.package-lock.json" ||
            "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]]; then
            llmp_log "npm ci in ${d#"$ROOT"/}"
            (cd "$d" && npm ci --no-audit --no-fund --loglevel=error) ||
                llmp_die "npm ci failed in $d"
        fi
        if grep -q '"build"[[:space:]]*:' "$d/package.json"; then
            (cd "$d" && npm run --silent build) || llmp_die "npm run build failed in $d"
        fi
    done
}

# llmp_build <build-dir> <build-type> [extra cmake args...]
# Compiles through ccache when it is installed (LLMPROXY_CCACHE=0 turns it off). Paths are
# hashed relative to the checkout, so a second checkout on the same machine (a CI clone, a git
# worktree) reuses the objects of the first; a cold cache only costs the cache's own writes.
llmp_build() {
    local dir="$1" type="$2" launcher=()
    shift 2
    [[ "$dir" = /* ]] || dir="$ROOT/$dir"
    if [[ "${LLMPROXY_CCACHE:-1}" != 0 ]] && command -v ccache >/dev/null; then
        export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
        launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    fi
    cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${launcher[@]}" "$@"
    cmake --build "$dir" -j"$(nproc)"
}

# Print a TCP port that is currently free on 127.0.0.1.
#
# Ports are picked at random *below* the kernel's ephemeral range
# (net.ipv4.ip_local_port_range): our services are stopped and restarted on
# the same port, and a port from the ephemeral range could meanwhile be taken
# as the local port of some outgoing connection. Falls back to binding port 0.
llmp_free_port() {
    perl -MIO::Socket::INET -e '
        my ($lo) = (0);
        if (open(my $fh, "<", "/proc/sys/net/ipv4/ip_local_port_range")) {
            ($lo) = split(" ", scalar <$fh>);
        }
        $lo = 32768 unless $lo && $lo > 20000;
        my ($min, $max) = (20000, $lo - 1);
        for (1 .. 200) {
            my $p = $min + int(rand($max - $min + 1));
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $p,
                                          Proto => "tcp", Listen => 1) or next;
            close($s);
            print "$p\n";
            exit 0;
        }
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                      Proto => "tcp", Listen => 1)
            or die "cannot bind a free port: $!\n";
        print $s->sockport, "\n";
    '
}

# Is something accepting TCP connections on 127.0.0.1:<port>?
llmp_port_open() {
    perl -MIO::Socket::INET -e '
        IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0],
                              Proto => "tcp", Timeout => 1) ? exit 0 : exit 1;
    ' "$1"
}

# llmp_wait_http <url> <timeout-seconds> [extra curl args...]
# Polls until the URL answers 2xx. Returns non-zero on timeout.
llmp_wait_http() {
    local url="$1" timeout="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    while :; do
        if curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            llmp_log "timeout after ${timeout}s waiting for $url"
            return 1
        fi
        sleep 0.2
    done
}

# Is <pid> a live process (not a zombie)?
llmp_pid_alive() {
    local pid="$1" state
    [[ -n "$pid" ]] || return 1
    state="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z* ]]
}

# llmp_wait_pid_exit <pid> <timeout-seconds>: 0 if the process went away.
llmp_wait_pid_exit() {
    local pid="$1" timeout="$2"
    local deadline=$((SECONDS + timeout))
    while llmp_pid_alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
    return 0
}

# llmp_kill_tree <pid> [timeout]: SIGTERM the process (and its process group if
# it leads one), wait, then SIGKILL whatever is left.
llmp_kill_tree() {
    local pid="$1" timeout="${2:-20}" pgid
    [[ -n "$pid" ]] || return 0
    llmp_pid_alive "$pid" || return 0
    pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')"
    if [[ "$pgid" == "$pid" ]]; then
        kill -TERM -- "-$pid" 2>/dev/null || true
    else
        kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! llmp_wait_pid_exit "$pid" "$timeout"; then
        llmp_log "pid $pid did not exit after ${timeout}s; killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    if [[ "$pgid" == "$pid" ]]; then
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    llmp_wait_pid_exit "$pid" 5 || true
}

# Append "export NAME='value'" lines for the given variable names to a file
# (single-quoted, so the file is valid for sh/bash and easy to parse).
llmp_write_env() {
    local file="$1" name value q="'"
    shift
    for name in "$@"; do
        value="${!name-}"
        printf "export %s='%s'\n" "$name" "${value//$q/$q\\$q$q}" >>"$file"
    done
}

# llmp_spawn <pidfile> <logfile> <command> [args...]
# Starts an external command in the background in its own session/process
# group (so a terminal Ctrl-C does not reach it; we stop it explicitly),
# appends stdout+stderr to <logfile>, stdin from /dev/null, and writes its PID
# to <pidfile> (the PID is that of <command> itself: nothing forks in between).
# Prints the PID.
llmp_spawn() {
    local pidfile="$1" logfile="$2"
    shift 2
    rm -f "$pidfile"
    (
        echo "$BASHPID" >"$pidfile.tmp"
        mv "$pidfile.tmp" "$pidfile"
        # setsid(2) then exec; if we already lead a process group (job
        # control shell) setsid fails, which is fine: we have our own group.
        exec perl -MPOSIX -e 'POSIX::setsid(); exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' "$@"
    ) >>"$logfile" 2>&1 </dev/null 9>&- &
    local i
    for ((i = 0; i < 250; i++)); do
        [[ -s "$pidfile" ]] && break
        sleep 0.02
    done
    [[ -s "$pidfile" ]] || llmp_die "could not start $1"
    cat "$pidfile"
}

# llmp_kill_binaries_under <dir>: SIGTERM (then SIGKILL) every process whose
# executable (or argv[0]) lives under <dir>, e.g. leftover llmproxy processes
# of a build.
llmp_kill_binaries_under() {
    local dir="$1" exe p pids=()
    for exe in /proc/[0-9]*/exe; do
        p="${exe#/proc/}"
        p="${p%/exe}"
        [[ "$p" != "$$" && "$p" != "$BASHPID" ]] || continue
        local argv0=""
        argv0="$({ tr '\0' '\n' <"/proc/$p/cmdline"; } 2>/dev/null | head -n 1)" || true
        if [[ "$(readlink "$exe" 2>/dev/null)" == "$dir/"* || "$argv0" == "$dir/"* ]]; then
            pids+=("$p")
        fi
    done
    ((${#pids[@]})) || return 0
    llmp_log "killing leftover processes under $dir: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for p in "${pids[@]}"; do
        llmp_wait_pid_exit "$p" 5 || kill -KILL "$p" 2>/dev/null || true
    done
}

# llmp_kill_cmdline_matching <string>: SIGKILL processes whose command line
# contains <string> (used for stale private services of an earlier run, e.g.
# "-D /repo/.run/test/postgres/data"). Never matches this shell.
llmp_kill_cmdline_matching() {
    local p
    for p in $(pgrep -f -- "$1" || true); do
        [[ "$p" != "$$" && "$p" != "$BASHPID" ]] || continue
        llmp_log "killing stale pid $p ($({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-80))"
        kill -KILL "$p" 2>/dev/null || true
    done
}

# Stop the private services left in <dir> by an earlier (killed) run.
llmp_cleanup_stale_dir() {
    local dir="$1"
    [[ -d "$dir" ]] || return 0
    if [[ -f "$dir/rabbitmq/rabbitmq.env" ]]; then
        llmp_rabbitmq_stop "$dir/rabbitmq" || true
    fi
    if [[ -f "$dir/postgres/data/PG_VERSION" ]]; then
        llmp_postgres_stop "$dir/postgres" immediate || true
    fi
    if [[ -f "$dir/redis/redis.env" ]] && declare -F llmp_redis_stop >/dev/null; then
        llmp_redis_stop "$dir/redis" kill || true
    fi
    local pidfile
    for pidfile in "$dir"/pids/*.pid; do
        [[ -f "$pidfile" ]] || continue
        local pid
        pid="$(cat "$pidfile")"
        if llmp_pid_alive "$pid"; then
            llmp_log "killing stale pid $pid ($pidfile)"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    llmp_kill_cmdline_matching "$dir/"
}

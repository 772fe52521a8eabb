# shellcheck shell=bash
# Locate and load the env file written by scripts/up or scripts/test.
# Order: --env FILE argument (handled by callers), $LLMPROXY_ENV_FILE,
# $LLMPROXY_TEST_ENV_FILE, $RUN_DIR/env.

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

llmp_load_env_file() {
    local file="${1:-${LLMPROXY_ENV_FILE:-${LLMPROXY_TEST_ENV_FILE:-$RUN_DIR/env}}}"
    [[ -f "$file" ]] || llmp_die "env file not found: $file (is scripts/up or scripts/test running?)"
    # shellcheck source=/dev/null
    source "$file"
}

#!/usr/bin/env bash
# `llmproxy config check` refuses each broken file with exit code 2 and names what is wrong
# (the key, with file and line). Usage: config_check_test.sh LLMPROXY TESTDATA_DIR
set -u
bin="$1" dir="$2" failed=0
expect_refused() {  # file, text the message must contain
    local out rc
    out="$("$bin" config check "$dir/$1" 2>&1)"
    rc=$?
    if [[ $rc -ne 2 || "$out" != *"$2"* ]]; then
        echo "FAIL $1: exit $rc, wanted 2 and '$2' in: $out"
        failed=1
    else
        echo "ok   $1: $out"
    fi
}
expect_refused config_unknown_key.toml "config_unknown_key.toml:3: unknown key 'api.prot'"
expect_refused config_bad_value.toml "'worker.concurrency'"
expect_refused config_bad_value.toml "'api.model-aliases.nope'"
expect_refused config_unknown_table.toml "unknown table [wroker]"
expect_refused config_syntax.toml "config_syntax.toml:2:"
expect_refused config_no_such_file.toml "config_no_such_file.toml"
exit $failed

#!/usr/bin/env bash
# shellcheck disable=SC2016  # backquotes are Markdown here, not expansions
# README.md's configuration reference against `llmproxy <cmd> --help`: every subcommand the binary
# has, and every subcommand of those (`llmproxy keys create`), must have a "### `llmproxy <cmd>`"
# section in README.md, and every flag its --help lists
# must have a row there (a line holding `--flag`) with its environment variable and default, as
# `--help` prints them. Fails on the first subcommand with anything missing, naming it all.
#
#   tests/scripts/readme_flags_test.sh <llmproxy binary> <README.md>
#   tests/scripts/readme_flags_test.sh --markdown <llmproxy binary>   # print the tables (to paste)
set -euo pipefail

markdown=0
if [[ "${1:-}" == --markdown ]]; then
    markdown=1
    shift
fi
bin="$1"
readme="${2:-}"
root="$(cd "$(dirname "$0")/../.." && pwd -P)"

# subcommands: the names under "SUBCOMMANDS:" (or "Subcommands:") in `llmproxy [<cmd>] --help`,
# each followed by a tab and its description; all_subcommands_described adds the nested ones as
# "<cmd> <sub>", each after its parent.
subcommands_described() {
    # shellcheck disable=SC2086  # $1: a parent command, or nothing
    "$bin" $1 --help | awk 'tolower($0) ~ /^subcommands:/ { on = 1; next }
                            on && /^  [a-z]/ { d = substr($0, 31); print $1 "\t" d; next }
                            on && !/^ / { on = 0 }'
}
all_subcommands_described() {
    local cmd what
    while IFS=$'\t' read -r cmd what; do
        printf '%s\t%s\n' "$cmd" "$what"
        subcommands_described "$cmd" | sed "s/^/$cmd /"
    done < <(subcommands_described "")
}
subcommands() { all_subcommands_described | cut -f1; }

# options <cmd>: one line per option of `llmproxy <cmd> --help`, fields separated by \x1f:
# flag, environment variable, default, description. A list default "[a,b] ..." is written a,b;
# a default under this checkout (the monitor's web/dist) is written <checkout>/...
# CLI11 prints each option as "  --flag TYPE=default (Env:NAME)" padded to column 30 and the description after it, or,
# when that head is longer, the description on the next line at column 30.
options() {
    # shellcheck disable=SC2086  # "keys create": a command and its subcommand
    "$bin" $1 --help | ROOT="$root" perl -ne '
        BEGIN { $w = 30; }
        chomp;
        if (/^  -/) {              # an option: decided by the next line
            flush();
            $raw = $_;
        } elsif (defined $raw && /^ {$w}\S/) {    # its description on a line of its own
            if (!defined $head) { ($head, $desc) = ($raw, ""); }
            $desc .= ($desc eq "" ? "" : " ") . substr($_, $w);
        } else {
            flush();
        }
        sub split_raw {            # head and description on one line, the description at column $w
            return if defined $head || !defined $raw;
            ($head, $desc) = length($raw) > $w ? (substr($raw, 0, $w), substr($raw, $w)) : ($raw, "");
        }
        sub flush {
            split_raw();
            return unless defined $head;
            $head =~ s/\s+$//;
            my ($names, $rest) = $head =~ /^\s+(\S+)\s*(.*)$/;
            my ($long) = grep { /^--/ } split(/,/, $names);
            my $env = $rest =~ s/\s*\(Env:([^)]+)\)// ? $1 : "";
            my $def = $rest =~ /^[^=]*=(.*)$/ ? $1 : "";
            $def =~ s/\s+$//;
            $def =~ s/^\[(.*)\] \.\.\.$/$1/;
            $def =~ s/^\Q$ENV{ROOT}\E\//<checkout>\//;
            print join("\x1f", $long, $env, $def, $desc), "\n" if defined $long && $long ne "--help";
            undef $head;
            undef $raw;
        }
        END { flush(); }'
}

if ((markdown)); then
    while IFS=$'\t' read -r cmd what; do
        printf '### `llmproxy %s`\n\n%s.\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n' \
            "$cmd" "$what"
        while IFS=$'\x1f' read -r flag env def desc; do
            printf '| `%s` | %s | %s | %s |\n' "$flag" "${env:+\`$env\`}" "${def:+\`$def\`}" "${desc//|/\\|}"
        done < <(options "$cmd")
        echo
    done < <(all_subcommands_described)
    exit 0
fi

[[ -f "$readme" ]] || { echo "usage: $0 <llmproxy> <README.md>" >&2; exit 2; }
cmds="$(subcommands)"
[[ -n "$cmds" ]] || { echo "FAIL: no subcommands in \`$bin --help\`" >&2; exit 1; }
failed=0
checked=0
while IFS= read -r cmd; do
    # The section: from its heading to the next heading of the same or a higher level.
    section="$(awk -v h="### \`llmproxy $cmd\`" '
        $0 == h { on = 1; next }
        on && /^#{1,3} / { exit }
        on { print }' "$readme")"
    if [[ -z "$section" ]]; then
        echo "FAIL: README.md has no section \"### \`llmproxy $cmd\`\"" >&2
        failed=1
        continue
    fi
    mapfile -t lines <<<"$section"
    while IFS=$'\x1f' read -r flag env def _; do
        checked=$((checked + 1))
        row=""
        for line in "${lines[@]}"; do # (bash matching, no grep per flag: the test stays fast)
            if [[ "$line" == *"\`$flag\`"* ]]; then
                row="$line"
                break
            fi
        done
        if [[ -z "$row" ]]; then
            echo "FAIL: llmproxy $cmd $flag is not in README.md's \"llmproxy $cmd\" section" >&2
            failed=1
            continue
        fi
        if [[ -n "$env" && "$row" != *"\`$env\`"* ]]; then
            echo "FAIL: README.md's row for llmproxy $cmd $flag lacks its environment variable \`$env\`" >&2
            failed=1
        fi
        if [[ -n "$def" && "$row" != *"\`$def\`"* ]]; then
            echo "FAIL: README.md's row for llmproxy $cmd $flag lacks its default \`$def\`" >&2
            failed=1
        fi
    done < <(options "$cmd")
done <<<"$cmds"
((checked > 0)) || { echo "FAIL: no flags found in any --help (has the format changed?)" >&2; exit 1; }
((failed == 0)) || exit 1
echo "PASS: $checked flags of $(wc -l <<<"$cmds") subcommands are in README.md with their environment and default"

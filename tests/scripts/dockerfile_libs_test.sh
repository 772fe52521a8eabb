#!/usr/bin/env bash
# The Dockerfile's runtime stage installs every shared library the binary links: each NEEDED
# entry of the binary (readelf -d) must come from a Debian package that the runtime-base stage's
# `apt-get install` line names, or from one every Debian image has (libc6, and libstdc++6 and
# libgcc-s1, which apt itself links). Sanitizer runtimes (the test build's) are skipped. Catches the
# image whose binary cannot start ("error while loading shared libraries") when a new library
# is linked and the Dockerfile is not told.
#
#   tests/scripts/dockerfile_libs_test.sh <llmproxy binary> <Dockerfile>
set -euo pipefail
bin="$1"
dockerfile="$2"

# The package names of the runtime-base stage's install line(s), up to the first `&& rm`.
listed="$(awk '/^FROM .* AS runtime-base/ { on = 1; next }
               /^FROM / { on = 0 }
               on && /apt-get install/ { inst = 1 }
               on && inst { print; if ($0 !~ /\\$/ || $0 ~ /&& rm/) inst = 0 }' "$dockerfile" |
    tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install|rm|-y' || true)"
[[ -n "$listed" ]] || { echo "no apt-get install line found in the runtime-base stage of $dockerfile"; exit 1; }

missing=()
while read -r lib; do
    case "$lib" in libasan* | libubsan* | libtsan* | liblsan* | ld-linux*) continue ;; esac
    # awk reads to the end (no `exit`): an early exit would SIGPIPE ldconfig, and pipefail
    # would then fail the test whenever ldconfig had not finished writing (it flaked in CI).
    path="$(ldconfig -p | awk -v l="$lib" '!found && $1 == l && /x86-64|x86_64/ { print $NF; found = 1 }')"
    [[ -n "$path" ]] || { missing+=("$lib (not found by ldconfig here)"); continue; }
    # Debian 12 is usr-merged: dpkg knows a library by /lib/... or /usr/lib/..., either name.
    pkg=""
    real="$(readlink -f "$path")"
    for candidate in "$path" "$real" "${path#/usr}" "${real#/usr}" "/usr${path#/usr}" "/usr${real#/usr}"; do
        pkg="$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1)" || true
        [[ -n "$pkg" ]] && break
    done
    [[ -n "$pkg" ]] || { missing+=("$lib (no package owns $path)"); continue; }
    grep -qxF "$pkg" <<<"$listed" && continue
    # In every Debian image: essential (libc6) or what apt itself links (libstdc++6, libgcc-s1).
    case "$pkg" in libc6 | libstdc++6 | libgcc-s1) continue ;; esac
    missing+=("$lib from package $pkg")
done < <(readelf -d "$bin" | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $NF); print $NF }')

if ((${#missing[@]})); then
    echo "the Dockerfile's runtime-base stage does not install what $(basename "$bin") links:"
    printf '  %s\n' "${missing[@]}"
    echo "add the package(s) to its apt-get install line (and the -dev package to the build stage)"
    exit 1
fi
echo "every library the binary links is installed by the runtime-base stage"

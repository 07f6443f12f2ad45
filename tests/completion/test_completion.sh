#!/usr/bin/env bash
# The bash completion of pathsteer (packaging/bash-completion/pathsteer) against the real CLI:
#   * `pathsteer <TAB>` offers every command that `pathsteer --help` lists, and only those;
#   * subcommands and options of intent, policy, status;
#   * class names, uplink names (also in a --paths list) and intent ids come from a daemon's
#     API through `pathsteer __complete` -- here a fake API (fake_api.py) on loopback, named by
#     $PATHSTEER_API or by --api on the command line;
#   * no daemon: no names, nothing on stderr; `__complete` with a bad kind exits 2.
# usage: test_completion.sh PATHSTEER_BINARY COMPLETION_FILE
set -uo pipefail

PATHSTEER=${1:?usage: $0 PATHSTEER_BINARY COMPLETION_FILE}
COMPLETION=${2:?usage: $0 PATHSTEER_BINARY COMPLETION_FILE}
HERE=$(cd "$(dirname "$0")" && pwd)
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# Starts the fake API (TCP and a unix socket); its port is the first line it prints.
tmp=$(mktemp -d)
SOCK=$tmp/api.sock
coproc FAKE { exec python3 "$HERE/fake_api.py" "$SOCK"; }
fake_pid=$FAKE_PID
trap 'kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
read -r -t 10 port <&"${FAKE[0]}" || { echo "FAIL: the fake API did not start" >&2; exit 1; }
API=http://127.0.0.1:$port

# shellcheck source=/dev/null
source "$COMPLETION"

# complete LINE: what <TAB> after LINE offers, sorted, one a line. LINE's first word is replaced
# by the binary under test; a LINE ending in a blank completes an empty word. COMP_WORDS is
# split as bash splits it: at blanks, and at ':' (in COMP_WORDBREAKS), which becomes a word.
complete_line() {
    local line="$PATHSTEER ${1#pathsteer }"
    local -a blank_split words
    local w
    read -ra blank_split <<<"$line"
    for w in "${blank_split[@]}"; do
        while [[ $w == *:* ]]; do
            [[ -n ${w%%:*} ]] && words+=("${w%%:*}")
            words+=(":")
            w=${w#*:}
        done
        [[ -n $w ]] && words+=("$w")
    done
    [[ $line == *" " ]] && words+=("")
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$((${#words[@]} - 1))
    COMPREPLY=()
    _pathsteer
    printf '%s\n' "${COMPREPLY[@]}" | sort
}

expect() {  # expect LINE WANT...: the offers are exactly WANT
    local line=$1
    shift
    local got want
    got=$(complete_line "$line" | xargs)
    want=$(printf '%s\n' "$@" | sort | xargs)
    [[ $got == "$want" ]] || fail "'$line<TAB>': got [$got], want [$want]"
}

# Every command of the usage text, in the order it lists them.
help=$("$PATHSTEER" --help) || fail "pathsteer --help exited $?"
mapfile -t commands < <(sed -nE 's/^(usage:)? +pathsteer ([a-z]+).*/\2/p' <<<"$help" | awk '!seen[$0]++')
((${#commands[@]} >= 7)) || fail "too few commands found in --help: ${commands[*]}"
offered=$(complete_line "pathsteer " | xargs)
for c in "${commands[@]}"; do
    [[ " $offered " == *" $c "* ]] || fail "'pathsteer <TAB>' does not offer '$c' (offered: $offered)"
done
for c in $offered; do
    [[ $c == --help ]] && continue
    printf '%s\n' "${commands[@]}" | grep -qx -- "$c" || fail "'pathsteer <TAB>' offers '$c', which --help does not list"
done
expect "pathsteer in" intent
expect "pathsteer intent " add del list
expect "pathsteer policy " diff get put
expect "pathsteer status --" --api --json
expect "pathsteer status --json --" --api
expect "pathsteer explain --proto u" udp
expect "pathsteer reflector --verbose --l" --listen --log-every

export PATHSTEER_API=$API
expect "pathsteer intent add --class " default video
expect "pathsteer intent add --class v" video
expect "pathsteer intent add --class video --paths " wan1 wan2
expect "pathsteer intent add --class video --paths wan2," wan2,wan1 wan2,wan2
expect "pathsteer intent del " i-00000000000000a1

# --api on the command line wins over $PATHSTEER_API (here: nothing listens there).
export PATHSTEER_API=http://127.0.0.1:1
expect "pathsteer intent add --api $API --class " default video
expect "pathsteer intent add --api unix:$SOCK --class " default video
expect "pathsteer intent add --class video --api unix:$SOCK --paths w" wan1 wan2
expect "pathsteer intent add --class "
err=$(complete_line "pathsteer intent add --class " 2>&1 >/dev/null)
[[ -z $err ]] || fail "completion without a daemon wrote to stderr: $err"

# The hidden command itself.
out=$("$PATHSTEER" __complete wans --api "$API") || fail "__complete wans exited $?"
[[ $(xargs <<<"$out") == "wan1 wan2" ]] || fail "__complete wans printed [$out]"
"$PATHSTEER" __complete nonsense --api "$API" >/dev/null 2>&1
rc=$?
((rc == 2)) || fail "__complete nonsense exited $rc, want 2"
"$PATHSTEER" __complete classes --api http://127.0.0.1:1 >/dev/null 2>&1
rc=$?
((rc == 1)) || fail "__complete without a daemon exited $rc, want 1"

if ((failures > 0)); then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "completion: all checks passed (${#commands[@]} commands: ${commands[*]})"

#!/usr/bin/env bash
# The test command: set up .venv, start what the tests need (PostgreSQL on 127.0.0.1), run pytest,
# and stop what was started. With arguments, one pytest run with them (e.g. a file and -x).
#
# Without arguments, the whole suite as three pytest processes side by side: the whole-history,
# model and live-scheduler tests (-m slow, tests/live included), the rest, and the UI tests over the
# demo deployment (tests/ui). The deployments (scheduler, task processes, api-server) spend much of
# their time waiting on the scheduler's loop, so the two cores stay busy while they wait.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

pgdir=${MARKETFLOW_TEST_PGDIR:-/tmp/marketflow-test-pg}
pgport=${MARKETFLOW_TEST_PGPORT:-55432}
# The embedded copywriter's model converted from GGUF (include/marketflow/copy/embedded.py): a fresh
# folder each run, so that each run converts it once and its other processes read that copy.
MARKETFLOW_MODEL_CACHE=$(mktemp -d /tmp/marketflow-test-models.XXXXXX)
export MARKETFLOW_MODEL_CACHE
trap 'scripts/postgres.sh stop "$pgdir"; rm -rf "$MARKETFLOW_MODEL_CACHE"' EXIT
MARKETFLOW_TEST_PG_URL=$(scripts/postgres.sh start "$pgdir" "$pgport")
export MARKETFLOW_TEST_PG_URL
echo "==> PostgreSQL for the tests: $MARKETFLOW_TEST_PG_URL"

scripts/browser.sh  # headless Chromium for tests/ui/test_browser.py
pytest=(.venv/bin/python -m pytest --durations=15)
if [ $# -gt 0 ]; then
    "${pytest[@]}" "$@"  # not exec: the EXIT trap stops PostgreSQL
    exit 0
fi

logs=$(mktemp -d)
echo "==> three pytest processes side by side (output follows when all are done)"
"${pytest[@]}" -p no:cacheprovider --basetemp="$logs/slow" -m slow --ignore=tests/ui >"$logs/slow.log" 2>&1 &
declare -A phase_of=([$!]=slow)
"${pytest[@]}" -p no:cacheprovider --basetemp="$logs/rest" -m "not slow" --ignore=tests/live --ignore=tests/ui \
    >"$logs/rest.log" 2>&1 &
phase_of[$!]=rest
"${pytest[@]}" -p no:cacheprovider --basetemp="$logs/ui" tests/ui >"$logs/ui.log" 2>&1 &
phase_of[$!]=ui
status=()
started=$SECONDS
while [ ${#phase_of[@]} -gt 0 ]; do
    code=0
    wait -n -p done_pid "${!phase_of[@]}" || code=$?
    status+=("${phase_of[$done_pid]}=$code")
    echo "==> ${phase_of[$done_pid]}: done after $((SECONDS - started)) s"
    unset "phase_of[$done_pid]"
done
for phase in slow rest ui; do
    echo "==> ${phase}:"
    cat "$logs/$phase.log"
done

echo "==> pytest exit codes: ${status[*]}"
failed=0
for phase in slow rest ui; do
    if [[ " ${status[*]} " != *" $phase=0 "* ]]; then
        failed=1
        echo "==> $phase summary:"
        sed -n '/short test summary info/,$p' "$logs/$phase.log"
    fi
done
rm -rf "$logs"
exit "$failed"

#!/usr/bin/env bash
# The test command: set up .venv, start what the tests need (PostgreSQL on 127.0.0.1), run pytest,
# and stop what was started. With arguments, one pytest run with them (e.g. a file and -x).
#
# Without arguments, the whole suite in two phases. Most tests keep one core busy, so first two
# pytest processes share the two cores: the whole-history, model and live-scheduler tests (-m slow,
# tests/live included) beside the rest. The UI tests (phase 2) start as soon as either of them is
# done, beside the other's last minutes: the demo deployment they look at (scheduler, task
# processes, api-server) keeps about 1.3 cores busy, less than two.
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
echo "==> phase 1: two pytest processes side by side (output follows when both are done)"
"${pytest[@]}" -p no:cacheprovider --basetemp="$logs/slow" -m slow --ignore=tests/ui >"$logs/slow.log" 2>&1 &
declare -A phase_of=([$!]=slow)
"${pytest[@]}" -p no:cacheprovider --basetemp="$logs/rest" -m "not slow" --ignore=tests/live --ignore=tests/ui \
    >"$logs/rest.log" 2>&1 &
phase_of[$!]=rest
status=()
started=$SECONDS
for _ in 1 2; do
    code=0
    wait -n -p done_pid "${!phase_of[@]}" || code=$?
    status+=("${phase_of[$done_pid]}=$code")
    echo "==> phase 1, ${phase_of[$done_pid]/rest/not slow}: done after $((SECONDS - started)) s"
    unset "phase_of[$done_pid]"
    if [ ${#status[@]} -eq 1 ]; then
        echo "==> phase 2: the UI over the demo deployment (tests/ui), beside the other phase 1 process"
        "${pytest[@]}" -p no:cacheprovider --basetemp="$logs/ui" tests/ui >"$logs/ui.log" 2>&1 &
        ui=$!
    fi
done
for phase in slow rest; do
    echo "==> phase 1, -m ${phase/rest/not slow}:"
    cat "$logs/$phase.log"
done
wait "$ui" && status+=("deployments=0") || status+=("deployments=$?")
echo "==> phase 2, tests/ui: done after $((SECONDS - started)) s"
cat "$logs/ui.log"

echo "==> pytest exit codes: ${status[*]}"
failed=0
for phase in slow rest; do
    if [[ " ${status[*]} " != *" $phase=0 "* ]]; then
        failed=1
        echo "==> phase 1 ($phase) summary:"
        sed -n '/short test summary info/,$p' "$logs/$phase.log"
    fi
done
if [[ " ${status[*]} " != *" deployments=0 "* ]]; then
    failed=1
    echo "==> phase 2 summary:"
    sed -n '/short test summary info/,$p' "$logs/ui.log"
fi
rm -rf "$logs"
exit "$failed"

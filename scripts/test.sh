#!/usr/bin/env bash
# The whole suite, once per engine: one Python process cannot hold a Sail (Spark Connect) session
# and a JVM Spark session, so each engine gets its own pytest run. Extra arguments go to pytest.
#
# The two passes run at the same time, their lines prefixed with the engine. The Spark pass waits
# on JVMs far more than it computes (about half a core of the two), so the embedded pass fits
# beside it. LAKEHOUSE_TEST_SERIAL=1 runs them one after the other, unprefixed.
set -uo pipefail
cd "$(dirname "$0")/.."
pytest="${PYTEST:-.venv/bin/pytest}"
engines="${LAKEHOUSE_TEST_ENGINES:-embedded spark}"
serial="${LAKEHOUSE_TEST_SERIAL:-0}"

# The Spark pass starts many JVMs (spark-submit, CLI and streaming processes); each starts ~10 s
# faster with the class archive (lakehouse/jvm_archive.py). Built before the Spark pass when it is
# missing or older than the packages or jars; without it the Spark pass runs as before, slower.
archive=jvm/target/spark-classes.jsa
archive_log="${TMPDIR:-/tmp}/lakehouse-jvm-archive.log"

build_archive() {
  if [[ -x .venv/bin/lakehouse ]] && [[ ! -f "$archive" || "$archive" -ot .venv/.installed || "$archive" -ot jvm/target/jars/.fetched ]]; then
    if .venv/bin/lakehouse jvm-archive >"$archive_log" 2>&1; then
      tail -1 "$archive_log"
    else
      echo "warning: the JVM class archive was not built; the Spark pass runs without it:" >&2
      tail -20 "$archive_log" >&2
    fi
  fi
}

# One engine's pass; its exit code. pytest's 5 (nothing collected) is a failure.
# Each pass has a temporary root of its own (kept when it fails): under pytest's shared one, a
# pass's folders (its PostgreSQL and Kafka data among them) are removed while it runs as soon as
# three more pytest runs start on the machine.
run_pass() {
  local engine=$1 rc base
  shift
  [[ "$engine" == spark ]] && build_archive
  base=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-tests-$engine.XXXXXX")
  # The embedded pass runs in a time zone with a half-hour offset (unless TZ is set): nothing may
  # depend on the machine being on UTC (lakehouse/clock.py). The Spark pass keeps the machine's.
  local zone="${TZ:-}"
  [[ "$engine" == embedded && -z "$zone" ]] && zone="Asia/Kolkata"
  echo "=== tests on engine: $engine (temporary files under $base${zone:+, TZ=$zone})"
  if [[ -n "$zone" ]]; then
    TZ="$zone" "$pytest" --engine "$engine" --basetemp "$base/run" --junitxml "$base/report.xml" "$@"
  else
    "$pytest" --engine "$engine" --basetemp "$base/run" --junitxml "$base/report.xml" "$@"
  fi
  rc=$?
  # What failed, one line a test, kept for the end of the log (see report_failures).
  if [[ $rc -ne 0 && $rc -ne 5 ]]; then
    .venv/bin/python scripts/failed_tests.py "$base/report.xml" "$engine" >"$summary_dir/$engine" 2>&1
  fi
  [[ $rc -eq 0 ]] && rm -rf "$base"
  if [[ $rc -eq 5 ]]; then
    echo "no tests were collected on engine $engine: treating that as a failure" >&2
    rc=1
  fi
  return $rc
}

# Each failed pass writes its failed tests here; they are printed after every pass has ended.
summary_dir=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-tests-summary.XXXXXX")
report_failures() {
  if compgen -G "$summary_dir/*" >/dev/null; then
    echo "=== failed tests"
    cat "$summary_dir"/*
  fi
  rm -rf "$summary_dir"
}
trap report_failures EXIT

status=0
read -r -a selected <<<"$engines"
if [[ "$serial" == 1 || ${#selected[@]} -lt 2 ]]; then
  for engine in "${selected[@]}"; do
    run_pass "$engine" "$@" || status=$?
  done
  exit $status
fi

pids=()
for engine in "${selected[@]}"; do
  (
    run_pass "$engine" "$@" 2>&1 | sed -u "s/^/[$engine] /"
    exit "${PIPESTATUS[0]}"
  ) &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "=== engine ${selected[$i]}: passed"
  else
    rc=$?
    echo "=== engine ${selected[$i]}: failed (pytest exit code $rc)"
    status=$rc
  fi
done
exit $status

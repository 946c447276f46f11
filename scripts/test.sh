#!/usr/bin/env bash
# The whole suite, once per engine: one Python process cannot hold a Sail (Spark Connect) session
# and a JVM Spark session, so each engine gets its own pytest run. Extra arguments go to pytest.
#
# The two passes run at the same time, their lines prefixed with the engine.
# LAKEHOUSE_TEST_SERIAL=1 runs them one after the other, unprefixed.
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

# One pass: a label (names its folder and its lines), an engine, pytest's arguments; its exit code.
# pytest's 5 (nothing collected) is a failure.
# Each pass has a temporary root of its own (kept when it fails): under pytest's shared one, a
# pass's folders (its PostgreSQL and Kafka data among them) are removed while it runs as soon as
# three more pytest runs start on the machine.
run_pass() {
  local label=$1 engine=$2 rc base
  shift 2
  [[ "$engine" == spark ]] && build_archive
  base=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-tests-$label.XXXXXX")
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
    .venv/bin/python scripts/failed_tests.py "$base/report.xml" "$label" >"$summary_dir/$label" 2>&1
  fi
  [[ $rc -eq 0 ]] && rm -rf "$base"
  if [[ $rc -eq 5 ]]; then
    echo "no tests were collected on engine $engine ($label): treating that as a failure" >&2
    rc=1
  fi
  return $rc
}

# A pass with its lines prefixed by its label.
# Its wall time goes to $times_dir/<label>, printed with the lanes' results.
prefixed() {
  local label=$1 start=$SECONDS rc
  run_pass "$@" 2>&1 | sed -u "s/^/[$label] /"
  rc=${PIPESTATUS[0]}
  echo "$(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s" >"$times_dir/$label"
  return "$rc"
}

# Each failed pass writes its failed tests here; they are printed after every pass has ended.
summary_dir=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-tests-summary.XXXXXX")
times_dir=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-tests-times.XXXXXX")
report_failures() {
  if compgen -G "$summary_dir/*" >/dev/null; then
    echo "=== failed tests"
    cat "$summary_dir"/*
  fi
  rm -rf "$summary_dir" "$times_dir" "${shared_dir:-}"
}
trap report_failures EXIT

status=0
read -r -a selected <<<"$engines"
if [[ "$serial" == 1 || ${#selected[@]} -lt 2 ]]; then
  for engine in "${selected[@]}"; do
    run_pass "$engine" "$engine" "$@" || status=$?
  done
  exit $status
fi

# The whole suite (no arguments, both engines) runs in three lanes: the embedded pass, and the
# Spark pass cut in two by pytest-split, in collection order (a module's fixtures stay in one part)
# at the test times measured on Apache Spark (tests/durations/spark.json; tests it does not know
# count as the average). The lanes keep both cores busy (vmstat: no idle time): they shorten the
# longest pass, not the work. Every test that uses an engine still runs on both.
# LAKEHOUSE_TEST_STORE_DURATIONS=1 writes the times this run measured back to that file.
durations=tests/durations/spark.json
spark_parts=2
split_part() {  # one part of the Spark pass: its number
  local part=$1 measured rc=0
  measured=$(mktemp "${TMPDIR:-/tmp}/lakehouse-tests-durations.XXXXXX")
  cp "$durations" "$measured" 2>/dev/null || echo '{}' >"$measured"
  prefixed "spark-$part" spark --splits "$spark_parts" --group "$part" --splitting-algorithm duration_based_chunks \
    "--durations-path=$measured" --store-durations --clean-durations || rc=$?
  if [[ "${LAKEHOUSE_TEST_STORE_DURATIONS:-0}" == 1 ]]; then
    .venv/bin/python scripts/merge_durations.py "$durations" "$measured"
  fi
  rm -f "$measured"
  return $rc
}
if [[ $# -eq 0 && "${selected[*]}" == "embedded spark" && "${LAKEHOUSE_TEST_SPLIT:-1}" == 1 ]]; then
  build_archive  # once, before two Spark passes would both build it
  # What the Spark parts share: the built world, made by the first part that asks (tests/conftest.py).
  shared_dir=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-tests-shared.XXXXXX")
  export LAKEHOUSE_TEST_SHARED_DIR=$shared_dir
  prefixed embedded embedded &
  lanes=("$!:embedded:embedded")
  for part in $(seq "$spark_parts"); do
    split_part "$part" &
    lanes+=("$!:spark-$part:spark, part $part of $spark_parts")
  done
else
  lanes=()
  for engine in "${selected[@]}"; do
    prefixed "$engine" "$engine" "$@" &
    lanes+=("$!:$engine:$engine")
  done
fi
for lane in "${lanes[@]}"; do  # pid:label:description
  IFS=: read -r pid label description <<<"$lane"
  if wait "$pid"; then
    result=passed
  else
    rc=$?
    result="failed (pytest exit code $rc)"
    status=$rc
  fi
  echo "=== $description: $result in $(cat "$times_dir/$label" 2>/dev/null)"
done
exit $status

#!/usr/bin/env bash
# The whole suite, once per engine: one Python process cannot hold a Sail (Spark Connect) session
# and a JVM Spark session, so each engine gets its own pytest run. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
pytest="${PYTEST:-.venv/bin/pytest}"
engines="${LAKEHOUSE_TEST_ENGINES:-embedded spark}"
status=0

# The Spark pass starts many JVMs (spark-submit, CLI and streaming processes); each starts ~10 s
# faster with the class archive (lakehouse/jvm_archive.py). Built beside the embedded pass when it
# is missing or older than the packages or jars; without it the Spark pass runs as before, slower.
archive=jvm/target/spark-classes.jsa
archive_log="${TMPDIR:-/tmp}/lakehouse-jvm-archive.log"
archive_pid=""
if [[ " $engines " == *" spark "* && -x .venv/bin/lakehouse ]] && [[ ! -f "$archive" || "$archive" -ot .venv/.installed || "$archive" -ot jvm/target/jars/.fetched ]]; then
  .venv/bin/lakehouse jvm-archive >"$archive_log" 2>&1 &
  archive_pid=$!
fi

for engine in $engines; do
  if [[ "$engine" == spark && -n "$archive_pid" ]]; then
    if wait "$archive_pid"; then
      tail -1 "$archive_log"
    else
      echo "warning: the JVM class archive was not built; the Spark pass runs without it:" >&2
      tail -20 "$archive_log" >&2
    fi
  fi
  echo "=== tests on engine: $engine"
  "$pytest" --engine "$engine" "$@"
  rc=$?
  if [[ $rc -eq 5 ]]; then
    echo "no tests were collected on engine $engine: treating that as a failure" >&2
    rc=1
  fi
  [[ $rc -ne 0 ]] && status=$rc
done
exit $status

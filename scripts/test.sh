#!/usr/bin/env bash
# The whole suite, once per engine: one Python process cannot hold a Sail (Spark Connect) session
# and a JVM Spark session, so each engine gets its own pytest run. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
pytest="${PYTEST:-.venv/bin/pytest}"
status=0
for engine in ${LAKEHOUSE_TEST_ENGINES:-embedded spark}; do
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

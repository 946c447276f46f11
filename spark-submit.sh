#!/usr/bin/env bash
# Submit a lakehouse job to Apache Spark with Delta.
#
#   ./spark-submit.sh [--dry-run] [spark-submit options ...] JOB [job options ...]
#
# JOB is a file in jobs/ (pipeline, bronze_app_db, silver_orders, gold_daily_sales, ...).
# Job options: --data-dir D, --env E, --run-date YYYY-MM-DD.
# spark-submit options pass through (--master, --conf, --executor-memory, ...). Defaults:
#   --master local[*]                      unless you give --master
#   --jars jvm/target/jars/*.jar           when `mvn -f jvm/pom.xml dependency:copy-dependencies` fetched them:
#                                          Delta, Kafka's source, and S3A (hadoop-aws + the AWS SDK bundle) for s3a://
#   --packages io.delta:delta-spark_2.13:$DELTA_VERSION,...   the same from Maven, otherwise (or when
#                                          LAKEHOUSE_USE_PACKAGES=1)
# The library ships as dist/lakehouse.zip via --py-files; the driver's Python needs the
# package's dependencies (pip install . on the driver, or --archives a packed venv on a cluster).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DELTA_VERSION="${DELTA_VERSION:-4.0.1}"
# S3A must match the Hadoop inside pyspark (jvm/pom.xml says which).
HADOOP_VERSION="${HADOOP_VERSION:-3.4.1}"
jars_dir="${LAKEHOUSE_JARS_DIR:-$here/jvm/target/jars}"

dry_run=0
submit_opts=()
job=""
job_args=()
has_master=0
has_delta=0
# spark-submit options that take no value
flags=" --verbose --supervise --help --version --usage-error "

while (($#)); do
  if [[ -n "$job" ]]; then job_args+=("$1"); shift; continue; fi
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --*)
      [[ "$1" == "--master" ]] && has_master=1
      [[ "$1" == "--packages" || "$1" == "--jars" ]] && has_delta=1
      if [[ "$flags" == *" $1 "* ]]; then submit_opts+=("$1"); shift
      else
        (($# >= 2)) || { echo "spark-submit.sh: $1 needs a value" >&2; exit 2; }
        submit_opts+=("$1" "$2"); shift 2
      fi ;;
    *) job="${1%.py}"; job="${job#jobs/}"; shift ;;
  esac
done

if [[ -z "$job" ]]; then
  echo "usage: ./spark-submit.sh [--dry-run] [spark-submit options] JOB [job options]" >&2
  echo "jobs: $(cd "$here/jobs" && ls ./*.py | sed 's#^\./##; s/\.py$//' | tr '\n' ' ')" >&2
  exit 2
fi
script="$here/jobs/$job.py"
[[ -f "$script" ]] || { echo "spark-submit.sh: no job '$job' (no file $script)" >&2; exit 2; }

python="${PYSPARK_PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then python="$here/.venv/bin/python"; else python="$(command -v python3)"; fi
fi
submit="$(dirname "$python")/spark-submit"
[[ -x "$submit" ]] || submit="${SPARK_HOME:+$SPARK_HOME/bin/}spark-submit"

defaults=()
((has_master)) || defaults+=(--master "local[*]")
if ((!has_delta)); then
  shopt -s nullglob
  jars=("$jars_dir"/*.jar)
  shopt -u nullglob
  if [[ "${LAKEHOUSE_USE_PACKAGES:-0}" != 1 && ${#jars[@]} -gt 0 ]]; then
    defaults+=(--jars "$(IFS=,; echo "${jars[*]}")")
  else
    defaults+=(--packages "io.delta:delta-spark_2.13:$DELTA_VERSION,org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1,org.apache.hadoop:hadoop-aws:$HADOOP_VERSION")
  fi
fi
# The class-data-sharing archive `make setup` builds (lakehouse/jvm_archive.py): a faster driver start.
archive="$(dirname "$jars_dir")/spark-classes.jsa"
if [[ -f "$archive" && " ${submit_opts[*]} " != *"--driver-java-options"* && " ${submit_opts[*]} " != *"spark.driver.extraJavaOptions"* ]]; then
  defaults+=(--driver-java-options "-XX:SharedArchiveFile=$archive -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off")
fi
defaults+=(
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
  --conf spark.sql.session.timeZone=UTC
  --conf "spark.pyspark.python=$python"
  --conf "spark.pyspark.driver.python=$python"
  --py-files "$here/dist/lakehouse.zip"
)

cmd=("$submit" "${defaults[@]}" "${submit_opts[@]}" "$script" "${job_args[@]}")
if ((dry_run)); then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi

mkdir -p "$here/dist"
(cd "$here" && "$python" -m zipfile -c dist/lakehouse.zip lakehouse/ >/dev/null)
export LAKEHOUSE_CONF_DIR="${LAKEHOUSE_CONF_DIR:-$here/conf}"
# pyspark's spark-submit finds SPARK_HOME with $PYSPARK_PYTHON (else whatever python3 is on PATH,
# which has no pyspark when the venv is not activated).
export PYSPARK_PYTHON="$python"
exec "${cmd[@]}"

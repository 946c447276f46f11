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
#                                          Delta and Kafka's source; plus jvm/s3a/target/jars/*.jar (hadoop-aws and
#                                          the AWS SDK bundle, 558 MB) when LAKEHOUSE_LAKE_URI or
#                                          LAKEHOUSE_LANDING_URI is on object storage (s3:// or s3a://, any case)
#   --packages io.delta:delta-spark_2.13:$DELTA_VERSION,...   the same from Maven, otherwise (or when
#                                          LAKEHOUSE_USE_PACKAGES=1)
#   with a standalone master on this machine (spark://127.0.0.1:P, spark://localhost:P: the cluster
#   `lakehouse cluster start` runs), those jars go on the driver's and executors' class path from
#   their folders instead of --jars: every executor would otherwise copy all of them (558 MB of
#   AWS SDK among them) into its work folder, per application. LAKEHOUSE_JARS_ON_CLASSPATH=1 does
#   the same for any master whose nodes have that folder at the same path; =0 keeps --jars.
# The library ships as dist/lakehouse.zip via --py-files; the driver's Python needs the
# package's core dependencies, no extra (pip install . on the driver, or --archives a packed venv
# on a cluster): the jobs import nothing of serve, ml, stream, services or postgres
# (tests/unit/test_driver_dependencies.py). Executors need no Python package for the jobs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DELTA_VERSION="${DELTA_VERSION:-4.0.1}"
# S3A must match the Hadoop inside pyspark (jvm/pom.xml says which).
HADOOP_VERSION="${HADOOP_VERSION:-3.4.1}"
jars_dir="${LAKEHOUSE_JARS_DIR:-$here/jvm/target/jars}"
s3a_jars_dir="${LAKEHOUSE_S3A_JARS_DIR:-$here/jvm/s3a/target/jars}"
on_s3=0
# A URI's scheme is case-insensitive, as the lakehouse's config reads it (S3://, s3a://, S3A://).
shopt -s nocasematch
for uri in "${LAKEHOUSE_LAKE_URI:-}" "${LAKEHOUSE_LANDING_URI:-}"; do
  [[ "$uri" == s3://* || "$uri" == s3a://* ]] && on_s3=1
done
shopt -u nocasematch

dry_run=0
submit_opts=()
job=""
job_args=()
has_master=0
master=""
has_delta=0
# spark-submit options that take no value
flags=" --verbose --supervise --help --version --usage-error "

while (($#)); do
  if [[ -n "$job" ]]; then job_args+=("$1"); shift; continue; fi
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --*)
      [[ "$1" == "--master" ]] && { has_master=1; master="${2:-}"; }
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
  ((on_s3)) && jars+=("$s3a_jars_dir"/*.jar)
  shopt -u nullglob
  on_classpath="${LAKEHOUSE_JARS_ON_CLASSPATH:-}"
  if [[ -z "$on_classpath" ]]; then
    case "$master" in spark://127.0.0.1:*|spark://localhost:*) on_classpath=1 ;; *) on_classpath=0 ;; esac
  fi
  if [[ "${LAKEHOUSE_USE_PACKAGES:-0}" != 1 && ${#jars[@]} -gt 0 && "$on_classpath" == 1 ]]; then
    classpath="$jars_dir/*"
    ((on_s3)) && classpath+=":$s3a_jars_dir/*"
    defaults+=(--driver-class-path "$classpath" --conf "spark.executor.extraClassPath=$classpath")
  elif [[ "${LAKEHOUSE_USE_PACKAGES:-0}" != 1 && ${#jars[@]} -gt 0 ]]; then
    defaults+=(--jars "$(IFS=,; echo "${jars[*]}")")
  else
    packages="io.delta:delta-spark_2.13:$DELTA_VERSION,org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1"
    ((on_s3)) && packages+=",org.apache.hadoop:hadoop-aws:$HADOOP_VERSION"
    defaults+=(--packages "$packages")
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

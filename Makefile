# Two commands for a fresh machine:
#   make demo   build the environment, generate a small world, run the whole pipeline (embedded Sail)
#   make test   run the whole test suite, once on Sail and once on Apache Spark + Delta
VENV  ?= .venv
PY    := $(VENV)/bin/python
SCALE ?= 0.05
DAYS  ?= 120
DATA  ?= data

.PHONY: setup demo test jvm-archive lint bench clean

setup: $(VENV)/.installed jvm/target/jars/.fetched jvm/kafka/target/jars/.fetched jvm/s3/target/jars/.fetched jvm/s3a/target/jars/.fetched jvm/pg/target/jars/.fetched

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,postgres]"
	touch $@

jvm/target/jars/.fetched: jvm/pom.xml
	rm -rf jvm/target/jars
	mvn --quiet --batch-mode -f jvm/pom.xml dependency:copy-dependencies
	touch $@

jvm/kafka/target/jars/.fetched: jvm/kafka/pom.xml
	mvn --quiet --batch-mode -f jvm/kafka/pom.xml dependency:copy-dependencies
	touch $@

# S3A for Apache Spark on object storage; apart from Delta's jars (jvm/s3a/pom.xml says why).
jvm/s3a/target/jars/.fetched: jvm/s3a/pom.xml
	rm -rf jvm/s3a/target/jars
	mvn --quiet --batch-mode -f jvm/s3a/pom.xml dependency:copy-dependencies
	touch $@

jvm/s3/target/jars/.fetched: jvm/s3/pom.xml
	rm -rf jvm/s3/target/jars
	mvn --quiet --batch-mode -f jvm/s3/pom.xml dependency:copy-dependencies
	touch $@

# The PostgreSQL JDBC driver, for the PostgreSQL endpoint's tests and benchmark (not on Spark's classpath).
jvm/pg/target/jars/.fetched: jvm/pg/pom.xml
	mvn --quiet --batch-mode -f jvm/pg/pom.xml dependency:copy-dependencies
	touch $@

demo: setup
	$(VENV)/bin/lakehouse --data-dir $(DATA) demo --scale $(SCALE) --days $(DAYS)

test: setup
	scripts/test.sh

# Each local Spark JVM (spark-submit.sh, --engine spark) starts ~10 s faster with it: lakehouse/jvm_archive.py.
# scripts/test.sh builds it too, beside the embedded pass, when it is missing.
jvm-archive: setup
	$(VENV)/bin/lakehouse jvm-archive

lint: setup
	$(VENV)/bin/ruff check lakehouse tests jobs benchmarks
	$(VENV)/bin/mypy lakehouse

bench: setup
	$(PY) benchmarks/pipeline.py

clean:
	rm -rf $(DATA) dist jvm/target jvm/kafka/target jvm/s3/target jvm/s3a/target jvm/pg/target

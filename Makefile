# Two commands for a fresh machine:
#   make demo   build the environment, generate a small world, run the whole pipeline (embedded Sail)
#   make test   run the whole test suite, once on Sail and once on Apache Spark + Delta
VENV  ?= .venv
PY    := $(VENV)/bin/python
SCALE ?= 0.05
DAYS  ?= 120
DATA  ?= data
# Maven 3.8's console library writes a colour reset (ESC[0m) around its output even in batch mode;
# jansi.noreset leaves it out, so logs and pipes get plain text.
MVN   := MAVEN_OPTS="-Djansi.noreset=true $$MAVEN_OPTS" mvn --quiet --batch-mode

.PHONY: setup demo test jvm-archive lint bench clean

setup: $(VENV)/.installed jvm/target/jars/.fetched jvm/kafka/target/jars/.fetched jvm/s3/target/jars/.fetched jvm/s3a/target/jars/.fetched jvm/pg/target/jars/.fetched

# Every extra and the dev tools: the demo and the tests use them all. A cluster's driver needs only
# `pip install .` (the batch jobs); pyproject.toml and lakehouse/extras.py say what each extra adds.
# setuptools announces every editable install with a warning that pip repeats ("Editable
# installation ... folders with the same name as your package"): nothing to act on, so not shown.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e ".[all,dev]"
	touch $@

jvm/target/jars/.fetched: jvm/pom.xml
	rm -rf jvm/target/jars
	$(MVN) -f jvm/pom.xml dependency:copy-dependencies
	touch $@

jvm/kafka/target/jars/.fetched: jvm/kafka/pom.xml
	$(MVN) -f jvm/kafka/pom.xml dependency:copy-dependencies
	touch $@

# S3A for Apache Spark on object storage; apart from Delta's jars (jvm/s3a/pom.xml says why).
jvm/s3a/target/jars/.fetched: jvm/s3a/pom.xml
	rm -rf jvm/s3a/target/jars
	$(MVN) -f jvm/s3a/pom.xml dependency:copy-dependencies
	touch $@

jvm/s3/target/jars/.fetched: jvm/s3/pom.xml
	rm -rf jvm/s3/target/jars
	$(MVN) -f jvm/s3/pom.xml dependency:copy-dependencies
	touch $@

# The PostgreSQL JDBC driver, for the PostgreSQL endpoint's tests and benchmark (not on Spark's classpath).
jvm/pg/target/jars/.fetched: jvm/pg/pom.xml
	$(MVN) -f jvm/pg/pom.xml dependency:copy-dependencies
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
	$(VENV)/bin/ruff check lakehouse tests jobs benchmarks scripts
	$(VENV)/bin/mypy lakehouse

bench: setup
	$(PY) benchmarks/pipeline.py

clean:
	rm -rf $(DATA) dist jvm/target jvm/kafka/target jvm/s3/target jvm/s3a/target jvm/pg/target

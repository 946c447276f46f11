"""A world's sources and lake moved onto the run's S3 server, and tables compared row by row: shared
by the object-storage tests (pipeline, cluster, serving, ML, reverse ETL).

Tables are read back with delta-rs, never with the code under test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from deltalake import DeltaTable

from lakehouse.config import Config
from lakehouse.files import Location, S3Settings
from lakehouse.s3server import S3Server

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
LANDED = ("clickstream", "telemetry", "targets")  # what `lakehouse generate` lands in the landing zone
LOCAL_SOURCES = ("app.db", "fx", "_generator.json")  # what stays on the local disk (a database, an API)
# Columns that say when a row was written (or by which run): they differ between any two runs.
RUN_COLUMNS = {"batch_id", "rejected_at", "updated_at", "scored_at"}
RUN_FIELDS = ("_ingested_at", "_batch_id")  # the same inside the JSON of a rejected row


def new_bucket(server: S3Server, prefix: str) -> Location:
    """A new, empty bucket on `server`, as the root `Location` of a lake and its landing zone."""
    bucket = f"{prefix}-{uuid.uuid4().hex[:10]}"
    server.create_bucket(bucket)
    return Location(f"s3://{bucket}", S3Settings.from_env(server.env()))


def upload(local: Path, remote: Location) -> int:
    """Every file under `local` to the same relative key under `remote`; how many."""
    count = 0
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        (remote / str(path.relative_to(local))).write_bytes(path.read_bytes())
        count += 1
    return count


def sources_on_s3(world: Config, root: Location, data_dir: Path) -> None:
    """`world`'s landed files under `root/sources`, its app database and FX rates under `data_dir`."""
    for folder in LANDED:
        upload(world.sources_dir / folder, root / "sources" / folder)
    (data_dir / "sources").mkdir(parents=True, exist_ok=True)
    for name in LOCAL_SOURCES:
        copy = shutil.copytree if (world.sources_dir / name).is_dir() else shutil.copy2
        copy(world.sources_dir / name, data_dir / "sources" / name)


def env(server: S3Server, root: Location, **extra: str) -> dict[str, str]:
    """This process's environment without its own AWS_*, LAKEHOUSE_* and SPARK_* settings (a
    Connect session in this process leaves SPARK_CONNECT_MODE_ENABLED behind, which turns a child's
    classic Spark session into a Connect one), plus the server's variables and a lake and landing
    zone under `root`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEHOUSE_", "SPARK_"))}
    return {**kept, **server.env(), "LAKEHOUSE_LAKE_URI": str(root / "lake"),
            "LAKEHOUSE_LANDING_URI": str(root / "sources"), **extra}


def lakehouse(engine: str, data_dir: Path, environ: dict[str, str], *args: str,
              timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`lakehouse --env test --engine ENGINE --data-dir D ARGS` in its own process."""
    command = [LAKEHOUSE, "--env", "test", "--engine", engine, "--data-dir", str(data_dir), *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=timeout)


def table(location: Location) -> DeltaTable:
    return DeltaTable(str(location), storage_options=location.storage_options)


def tables(lake: Location, layers: tuple[str, ...]) -> list[str]:
    """`layer.name` of every Delta table in `layers` under `lake`, sorted (listed, not registered)."""
    found = []
    for layer in layers:
        for entry in (lake / layer).list():
            if entry.is_dir and (entry.location / "_delta_log").exists():
                found.append(f"{layer}.{entry.name}")
    return sorted(found)


def _text(value: object) -> str:
    """A value as text; a JSON object (a rejected row) with its keys sorted and without the run's
    fields: engines order a row's partition column differently when they write it out."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            row = json.loads(value)
        except ValueError:
            return value
        if isinstance(row, dict):
            return json.dumps({k: v for k, v in row.items() if k not in RUN_FIELDS}, sort_keys=True)
    return str(value)


def rows(location: Location) -> list[tuple]:
    """The table's rows as text, without what says when or by which run they were written."""
    data = table(location).to_pyarrow_table()
    # by name: engines order partition columns differently (Sail and delta-rs last, Spark as declared)
    kept = sorted(c for c in data.column_names if not c.startswith("_") and c not in RUN_COLUMNS)
    return sorted(tuple(_text(v) for v in row.values()) for row in data.select(kept).to_pylist())


def assert_same_tables(got: Location, expected: Location, layers: tuple[str, ...] = ("silver", "gold")) -> None:
    """The same tables in `layers` under both lakes, each with the same rows."""
    names = tables(expected, layers)
    assert tables(got, layers) == names
    for name in names:
        layer, short = name.split(".")
        assert rows(got / layer / short) == rows(expected / layer / short), name


def files_holding(root: Location, needles: list[str]) -> dict[str, set[str]]:
    """Every file under `root` (on a local disk or S3; its path relative to `root`) holding one of
    `needles`: its raw bytes searched, and a Parquet file's decoded values too (its pages may be
    compressed)."""
    found: dict[str, set[str]] = {}
    for entry in root.list(recursive=True):
        if entry.is_dir:
            continue
        hits = bytes_holding(entry.location.read_bytes(), needles)
        if hits:
            found[entry.location.relative_to(root)] = hits
    return found


def bytes_holding(data: bytes, needles: list[str]) -> set[str]:
    """The needles in a file's raw bytes, or, for a Parquet file, in any of its decoded values as
    text (its pages may be compressed), nested ones included."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    hits = {n for n in needles if n.encode() in data}
    if data[:4] == b"PAR1" and len(hits) < len(needles):
        table = pq.ParquetFile(pa.BufferReader(data)).read()
        for values in (_column_text(leaf) for column in table.columns for leaf in _leaves(column)):
            for needle in set(needles) - hits:
                if isinstance(values, list):
                    found = any(needle in value for value in values)
                else:
                    found = bool(pc.any(pc.match_substring(values, needle)).as_py())
                if found:
                    hits.add(needle)
    return hits


def _leaves(column):  # noqa: ANN001, ANN202  (pyarrow ChunkedArray in, its scalar columns out)
    """A column's values without nesting: struct fields, list and map entries, one column each."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_struct(kind):
        for field in column.flatten():
            yield from _leaves(field)
    elif pa.types.is_map(kind):
        yield from _leaves(pa.chunked_array([c.keys for c in column.chunks], kind.key_type))
        yield from _leaves(pa.chunked_array([c.items for c in column.chunks], kind.item_type))
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        yield from _leaves(pc.list_flatten(column))
    elif pa.types.is_dictionary(kind):
        yield from _leaves(column.cast(kind.value_type))
    elif column.null_count < len(column):
        yield column


def _column_text(leaf):  # noqa: ANN001, ANN202
    """A scalar column's values as text: an Arrow string column, or Python strings where Arrow has no
    cast to text (bytes that are not UTF-8, say)."""
    import pyarrow as pa

    if pa.types.is_string(leaf.type) or pa.types.is_large_string(leaf.type):
        return leaf
    try:
        return leaf.cast(pa.large_string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [str(value) for value in leaf.to_pylist()]


def lake_on_s3(world: Config, server: S3Server, prefix: str) -> Location:
    """A copy of `world`'s lake (every table, ops included) in a new bucket: `<bucket>/lake`. Delta
    tables hold relative paths, so a copied table is the same table."""
    root = new_bucket(server, prefix)
    upload(world.lake_dir, root / "lake")
    return root / "lake"


def use_s3(spark, engine: str, server: S3Server, monkeypatch) -> None:  # noqa: ANN001
    """Let this process's engine, delta-rs and the file layer reach `server`, as a process started
    with its variables would: the AWS_* variables for Sail (it reads them when it first opens a
    bucket) and the file layer; S3A's settings on the running JVM for Apache Spark (whose context
    was made before the server started)."""
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    if engine == "spark":
        hadoop = spark.sparkContext._jsc.hadoopConfiguration()
        for key, value in S3Settings.from_env(server.env()).hadoop_conf().items():
            hadoop.set(key.removeprefix("spark.hadoop."), value)


def config_on_s3(world: Config, lake: Location, data_dir: Path | None = None) -> Config:
    """`world`'s config (engine, data folder) with its lake at `lake`."""
    from lakehouse.config import load_config

    overrides = {"engine.kind": world.engine.kind, "data_dir": str(data_dir or world.data_dir),
                 "storage.lake_uri": str(lake)}
    return load_config("test", overrides=overrides, environ={})

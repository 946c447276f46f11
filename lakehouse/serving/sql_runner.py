"""Runs a checked `POST /sql` statement with a row cap and a timeout.

`EngineSqlRunner` runs it as Spark SQL on the engine's session (Sail or JVM Spark): a query that
outlives the timeout is interrupted through its job tag. `FastSqlRunner` runs it on the fast path
(DuckDB over Arrow snapshots) for apps started without an engine session.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
from pyspark.sql import SparkSession

from lakehouse.serving.fastsql import FastSql


class QueryTimeout(TimeoutError):
    """The statement ran longer than the configured timeout and was cancelled."""


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool


def _result(arrow: pa.Table, limit: int) -> SqlResult:
    rows = arrow.slice(0, limit).to_pylist()
    return SqlResult(arrow.column_names, rows, arrow.num_rows > limit)


class SqlRunner(Protocol):
    def run(self, sql: str, versions: Mapping[str, int | None], limit: int, timeout: float) -> SqlResult: ...


class EngineSqlRunner:
    """Spark SQL on a session where `gold.<table>` resolves; `before` brings the catalog up to date."""

    def __init__(self, spark: SparkSession, before: Callable[[], None] = lambda: None, workers: int = 4) -> None:
        self.spark = spark
        self.before = before
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="sql")

    def _collect(self, sql: str, limit: int, tag: str) -> pa.Table:
        self.spark.addTag(tag)
        try:
            return self.spark.sql(sql).limit(limit + 1).toArrow()
        finally:
            self.spark.removeTag(tag)

    def run(self, sql: str, versions: Mapping[str, int | None], limit: int, timeout: float) -> SqlResult:
        self.before()
        tag = f"lakehouse-sql-{uuid.uuid4().hex}"
        future = self._pool.submit(self._collect, sql, limit, tag)
        try:
            arrow = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self.spark.interruptTag(tag)
            raise QueryTimeout(f"query cancelled after {timeout:g} s") from None
        return _result(arrow, limit)


class FastSqlRunner:
    def __init__(self, fast: FastSql) -> None:
        self.fast = fast

    def run(self, sql: str, versions: Mapping[str, int | None], limit: int, timeout: float) -> SqlResult:
        wrapped = f"SELECT * FROM ({sql}) AS q LIMIT {limit + 1}"
        return _result(self.fast.query(wrapped, versions, timeout=timeout), limit)

"""How a silver or gold table is described: one frozen, typed `TableSpec` next to its transform.

Each table module (`lakehouse/silver/<table>.py`, `lakehouse/gold/<table>.py`) declares
`SPEC = TableSpec(...)`: the table's name, schema and column comments, key, partitioning, the
columns that date and freshen it, its personal data, its inputs by the builder's parameter names,
how it is kept up to date between full rebuilds, its row-level reject rules and its expectations.
The jobs (`lakehouse.jobs`), the quality gate and its suites, backfills, re-admission, the catalog
(`lakehouse describe`), erasure and the docs read the spec; nothing else describes the table.

How a table is kept up to date (`incremental`):
- `FirstLanding`: a silver table over one append-only bronze table, keyed by each key's first
  landing (events, telemetry): an increment types only the rows landed since the last run.
- `ByGroups`: a silver table recomputed by groups (whole orders, whole customers) over one bronze
  table and other inputs: an increment recomputes the groups the changes reach.
- `ByDates`: a gold table of dates over incrementally written silver tables: an increment
  recomputes the dates the silver increments touched.
- None: rebuilt whole whenever an input changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.personal import PersonalData
from lakehouse.quality.rules import Rule, keep_first
from lakehouse.quality.suites import Tagged

K = TypeVar("K")
V = TypeVar("V")
S = TypeVar("S", "FirstLanding", "ByGroups", "ByDates")


def frozen(mapping: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only copy of `mapping` (a spec's mappings cannot be changed once declared)."""
    return MappingProxyType(dict(mapping or {}))


def as_names(value: Iterable[str], what: str, owner: str) -> tuple[str, ...]:
    """`value` as a tuple of column or table names; a bare string (a common slip for a one-name
    tuple: `("id")`) is refused by name."""
    if isinstance(value, str):
        raise ValueError(f"{owner}: {what} is a tuple of names, got the string {value!r} (write ({value!r},))")
    return tuple(value)


def _items(value: Iterable[object], kind: type, what: str, owner: str) -> tuple:
    """`value` as a tuple of `kind` (rules, expectations), refused by name otherwise."""
    items = tuple(value) if not isinstance(value, str) else (value,)
    wrong = [i for i in items if not isinstance(i, kind)]
    if wrong:
        raise ValueError(f"{owner}: {what} holds {kind.__name__} objects, not {wrong[0]!r}")
    return items


def _set(obj: object, **fields: object) -> None:
    for name, value in fields.items():
        object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class FirstLanding:
    """Kept by first landings: `source`'s rows landed since the last run, the first landing of
    each key (ordered by `first_by`, nulls last) whose key `source` had not seen before."""

    source: str
    first_by: tuple[str, ...] = ("_ingested_at", "_source", "_line_no")

    def __post_init__(self) -> None:
        _set(self, first_by=as_names(self.first_by, "first_by", f"first landings of {self.source}"))

    def order(self) -> list[Column]:
        """The order that puts a key's first landing first (`keep_first`)."""
        return [F.col(c).asc_nulls_last() for c in self.first_by]

    def first_of(self, df: DataFrame, key: Sequence[str]) -> DataFrame:
        """The first landing of each `key` in `df` (every row with a null key kept, for the key
        rule to reject). Most keys land once (a repeat is a re-delivery), so only repeated keys
        are ranked (`keep_first(..., repeats_rare=True)`); read `df` at one version."""
        return keep_first(df, key, self.order(), repeats_rare=True)


@dataclass(frozen=True)
class ByGroups:
    """Kept by groups: the groups (values of `group_key`) an increment reaches are recomputed from
    their rows of `keyed_inputs` and the other inputs whole.

    `tracked`: per other input, the columns whose change can move a group (their changes since the
    last run are read, not the whole input); `dated_inputs`: per tracked input, its date column
    when it is partitioned by date (changes are then read from the dates an increment touched)."""

    source: str
    group_key: str
    keyed_inputs: tuple[str, ...]
    tracked: Mapping[str, tuple[str, ...]] = field(default_factory=frozen)
    dated_inputs: Mapping[str, str] = field(default_factory=frozen)

    def __post_init__(self) -> None:
        owner = f"groups of {self.source}"
        _set(self, keyed_inputs=as_names(self.keyed_inputs, "keyed_inputs", owner),
             tracked=frozen({t: as_names(c, f"tracked[{t!r}]", owner) for t, c in self.tracked.items()}),
             dated_inputs=frozen(self.dated_inputs))
        if self.source not in self.keyed_inputs:
            raise ValueError(f"{owner}: the source is one of the keyed inputs (its rows are split by group)")
        untracked = sorted(set(self.dated_inputs) - set(self.tracked))
        if untracked:
            raise ValueError(f"{owner}: dated_inputs names inputs that are not tracked: {untracked}")


@dataclass(frozen=True)
class ByDates:
    """Kept by dates: per input table, the date column its rows are dated by. The table's own
    `date_column` names the dates it holds."""

    input_dates: Mapping[str, str]

    def __post_init__(self) -> None:
        _set(self, input_dates=frozen(self.input_dates))


Incremental = FirstLanding | ByGroups | ByDates


@dataclass(frozen=True)
class TableSpec:
    name: str  # <layer>.<table>
    key: tuple[str, ...]
    comments: Mapping[str, str]  # column → comment (`lakehouse describe`, DESCRIBE, the docs)
    schema: StructType | None = None  # None: whatever the transform builds
    partition_by: tuple[str, ...] = ()
    date_column: str | None = None  # the date a row is on: backfills and increments replace whole dates
    fresh_by: str | None = None  # source freshness is the age of its newest value (a warning)
    personal: PersonalData | None = None  # what erasure scrubs (`lakehouse.personal`)
    # builder parameter → input table; the job reads each input and passes it by that name. The
    # first is the table's primary source: the rows its rejects hold (re-admission reads them back).
    inputs: Mapping[str, str] = field(default_factory=frozen)
    incremental: Incremental | None = None
    rules: tuple[Rule, ...] = ()  # row-level reject rules, run by the transform
    expectations: tuple[Tagged, ...] = ()  # the quality suite beyond the key checks

    def __post_init__(self) -> None:
        layer, _, table = self.name.partition(".")
        if not (layer.isidentifier() and table.isidentifier()):
            raise ValueError(f"table spec {self.name!r}: the name is <layer>.<table>")
        owner = f"table spec {self.name!r}"
        # Read-only from here on: tuples, read-only mappings, a copy of the schema.
        _set(self, key=as_names(self.key, "key", owner),
             partition_by=as_names(self.partition_by, "partition_by", owner),
             comments=frozen(self.comments), inputs=frozen(self.inputs),
             rules=_items(self.rules, Rule, "rules", owner),
             expectations=_items(self.expectations, Tagged, "expectations", owner),
             schema=None if self.schema is None else StructType.fromJson(self.schema.jsonValue()))
        if self.personal is not None and self.personal.table != self.name:
            raise ValueError(f"table spec {self.name!r}: its personal data names {self.personal.table!r}")
        columns = set(self.schema.fieldNames()) if self.schema is not None else set(self.comments)
        for what, names in (
            ("key", self.key),
            ("partition_by", self.partition_by),
            ("date_column", [self.date_column] if self.date_column else []),
            ("fresh_by", [self.fresh_by] if self.fresh_by else []),
            ("comments", list(self.comments)),
        ):
            unknown = [n for n in names if n not in columns]
            if unknown:
                raise ValueError(f"table spec {self.name!r}: {what} names unknown column(s) {unknown}")
        self._check_incremental()

    def _check_incremental(self) -> None:
        """The tables the incremental strategy names are inputs of the table."""
        kept, inputs = self.incremental, set(self.inputs.values())
        if kept is None:
            return
        first = next(iter(self.inputs.values()), None)
        if isinstance(kept, FirstLanding | ByGroups) and first != kept.source:
            raise ValueError(f"table spec {self.name!r}: its first input is its source {kept.source!r} (the rows "
                             f"its rejects hold), not {first!r}")
        if isinstance(kept, FirstLanding):
            named = {kept.source}
        elif isinstance(kept, ByGroups):
            named = {kept.source, *kept.keyed_inputs, *kept.tracked, *kept.dated_inputs}
            if self.schema is None or kept.group_key not in self.schema.fieldNames():
                raise ValueError(f"table spec {self.name!r}: group_key {kept.group_key!r} is a column of its "
                                 "declared schema (kept by groups, it needs one)")
        else:
            named = set(kept.input_dates)
            if self.date_column is None:
                raise ValueError(f"table spec {self.name!r}: kept by dates needs its date_column")
            if named != inputs:
                raise ValueError(f"table spec {self.name!r}: kept by dates needs the date column of every input; "
                                 f"missing: {sorted(inputs - named)}")
        if not named <= inputs:
            raise ValueError(f"table spec {self.name!r}: its incremental strategy names tables that are not "
                             f"its inputs: {sorted(named - inputs)}")

    @property
    def short_name(self) -> str:
        """The name without its layer (`daily_sales`)."""
        return self.name.split(".", 1)[1]

    @property
    def input_tables(self) -> tuple[str, ...]:
        return tuple(self.inputs.values())

    def kept_by(self, kind: type[S]) -> S:
        """The table's incremental strategy, which its job expects to be a `kind`."""
        if not isinstance(self.incremental, kind):
            raise TypeError(f"table spec {self.name!r} is not kept by {kind.__name__}: {self.incremental!r}")
        return self.incremental

    def declared_schema(self) -> StructType:
        """The declared schema (for tables written outside a transform, and silver tables)."""
        if self.schema is None:
            raise ValueError(f"table spec {self.name!r} declares no schema: its transform makes it")
        return self.schema

    @property
    def personal_columns(self) -> tuple[str, ...]:
        return self.personal.columns if self.personal is not None else ()

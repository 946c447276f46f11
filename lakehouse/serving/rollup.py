"""Pre-aggregates held as numpy columns, rolled up per request.

A KPI's pre-aggregate (`kpis.Base`) is one Spark SQL statement at the grain of the KPI's filters
(a day, a country, a category). It runs once per version of the tables it reads, through DuckDB
over Arrow snapshots (`fastsql.py`), and its result becomes a `Frame`: sorted by its date column,
text and date columns as integer codes, number columns as float arrays and decimal columns
(money) as integer units of their last place, cents for DECIMAL(18,2) (each encoded on first
use). A request then costs array work only: a binary search for the date range, a mask for the
countries, and `numpy.bincount` sums (or maxima) per group of the answer. On 2 cores a SQL engine
takes 1-6 ms per KPI query on tables of a few thousand rows (parse, bind, optimise, operators),
which caps an uncached API at ~200 answers a second; a roll-up takes 30-250 microseconds.

Semantics follow SQL: a sum or maximum over no non-null values is None; a roll-up with no group
columns returns one row even when nothing matches; nulls in group columns form their own group.

Decimals stay exact: their integer units are summed by the same `numpy.bincount` (float64 adds
integers exactly while the column's absolute total stays below 2^53, 90 trillion euros in cents;
past that, `numpy.add.at` on int64), and a sum comes back as a `Decimal` of the column's scale.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cachetools import LRUCache

EPOCH = dt.date(1970, 1, 1)
Row = dict[str, Any]


@dataclass(frozen=True)
class _Codes:
    """A column as integer codes into `labels`; code -1 (a null) maps to `labels[-1]`, None."""

    codes: np.ndarray
    labels: list[Any]
    index: dict[Any, int]


@dataclass(frozen=True)
class _Numbers:
    values: np.ndarray  # float64 (0 for null); a decimal's integer units (int64 or Python ints when `exact_ints`)
    valid: np.ndarray  # bool
    integer: bool
    scale: int | None = None  # a decimal column's scale: values are units of 10^-scale
    exact_ints: bool = False  # a decimal too large for float64 sums: int64 units, summed with add.at

    def value(self, total: float | int) -> Any:
        """A sum or maximum as the column's Python type (int, float or Decimal)."""
        if self.scale is not None:
            return Decimal(int(total)).scaleb(-self.scale)
        return int(total) if self.integer else total

    def totals(self, group: np.ndarray, picked: np.ndarray, groups: int) -> list[Any]:
        values = self.values[picked]
        if self.exact_ints:
            sums = np.zeros(groups, dtype=values.dtype)
            np.add.at(sums, group, values)
            return [int(v) for v in sums.tolist()]
        return np.bincount(group, weights=values, minlength=groups).tolist()


def _codes(column: pa.ChunkedArray) -> _Codes:
    encoded = pc.dictionary_encode(column.combine_chunks())
    labels = [*encoded.dictionary.to_pylist(), None]
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return _Codes(codes, labels, {label: i for i, label in enumerate(labels[:-1])})


_EXACT_FLOAT_SUM = 2**53


def _numbers(column: pa.ChunkedArray) -> _Numbers:
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_decimal(column.type):
        scale = column.type.scale
        try:  # 18 digits (a sum's decimal(38, s) narrowed) times 10^scale: exact in int64
            narrow = column.fill_null(0).cast(pa.decimal128(18, scale))
            ints = pc.multiply(narrow, pa.scalar(10**scale, pa.int64())).cast(pa.int64())
            units = ints.to_numpy(zero_copy_only=False).astype(np.int64)
        except (pa.ArrowInvalid, OverflowError):  # beyond 18 digits: Python integers, exact
            values = column.to_pylist()
            units = np.array([0 if v is None else int(v.scaleb(scale)) for v in values], dtype=object)
            return _Numbers(units, valid, False, scale, exact_ints=True)
        if int(np.abs(units).sum(dtype=np.float64)) < _EXACT_FLOAT_SUM:
            return _Numbers(units.astype(np.float64), valid, False, scale)
        return _Numbers(units, valid, False, scale, exact_ints=True)
    values = column.cast(pa.float64()).to_numpy()
    return _Numbers(np.where(valid, values, 0.0), valid, pa.types.is_integer(column.type))


def _days(day: dt.date) -> int:
    return (day - EPOCH).days


class Frame:
    """A small table, sorted by `date`, that answers filtered group-by sums and maxima.

    `date` names the column a date range applies to, `country` the one a country list applies to;
    either may be absent, and then that filter does not apply (as a KPI without a country ignores
    the country filter)."""

    def __init__(self, table: pa.Table, date: str | None = None, country: str | None = None) -> None:
        if date is not None:
            table = table.filter(pc.is_valid(table.column(date))).sort_by(date)
            self._day = table.column(date).cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
        self.date, self.country, self.size = date, country, table.num_rows
        self._table = table
        self._rows: list[Row] | None = None
        self._codes: dict[str, _Codes] = {}
        self._numbers: dict[str, _Numbers] = {}

    def _code(self, name: str) -> _Codes:
        """Column `name` as codes, encoded on first use (a race only encodes it twice)."""
        found = self._codes.get(name)
        if found is None:
            found = self._codes[name] = _codes(self._table.column(name))
        return found

    def _number(self, name: str) -> _Numbers:
        found = self._numbers.get(name)
        if found is None:
            found = self._numbers[name] = _numbers(self._table.column(name))
        return found

    def rows(self) -> list[Row]:
        """Every row, as dicts (copies: callers may change them)."""
        if self._rows is None:
            self._rows = self._table.to_pylist()
        return [dict(row) for row in self._rows]

    def _selection(self, start: dt.date | None, end: dt.date | None, countries: Sequence[str]) -> np.ndarray:
        """Positions of the rows in the date range (inclusive) and among `countries` (all if empty)."""
        low, high = 0, self.size
        if self.date is not None:
            if start is not None:
                low = int(np.searchsorted(self._day, _days(start), "left"))
            if end is not None:
                high = int(np.searchsorted(self._day, _days(end), "right"))
        picked = np.arange(low, max(low, high))
        if countries and self.country is not None:
            country = self._code(self.country)
            wanted = [country.index[c] for c in countries if c in country.index]
            picked = picked[np.isin(country.codes[picked], wanted)]
        return picked

    def rollup(
        self, *, by: Sequence[str] = (), sums: Sequence[str] = (), maxes: Sequence[str] = (),
        start: dt.date | None = None, end: dt.date | None = None, countries: Sequence[str] = (),
    ) -> list[Row]:
        """`SELECT by, SUM(sums), MAX(maxes) WHERE <date range and countries> GROUP BY by`, unordered."""
        picked = self._selection(start, end, countries)
        if by:
            radix, key = 1, np.zeros(len(picked), dtype=np.int64)
            columns = [self._code(name) for name in by]
            for encoded in columns:
                key += (encoded.codes[picked] + 1) * radix
                radix *= len(encoded.labels)
            _, first, group = np.unique(key, return_index=True, return_inverse=True)
            groups = len(first)
            out: list[Row] = [
                {name: c.labels[c.codes[picked[i]]] for name, c in zip(by, columns, strict=True)}
                for i in first.tolist()
            ]
        else:
            group, groups, out = np.zeros(len(picked), dtype=np.int64), 1, [{}]
        for name in sums:
            column = self._number(name)
            valid = column.valid[picked]
            totals = column.totals(group, picked, groups)
            counts = np.bincount(group, weights=valid, minlength=groups)
            for row, total, count in zip(out, totals, counts.tolist(), strict=True):
                row[name] = None if count == 0 else column.value(total)
        for name in maxes:
            column = self._number(name)
            valid = column.valid[picked]
            peaks = np.full(groups, -np.inf)
            np.maximum.at(peaks, group[valid], column.values[picked][valid].astype(np.float64))
            for row, peak in zip(out, peaks.tolist(), strict=True):
                row[name] = None if peak == -np.inf else column.value(peak)
        return out


class Frames:
    """Frames built on demand and kept per key (a base and the table versions it read)."""

    def __init__(self, entries: int = 64) -> None:
        self._frames: LRUCache[Hashable, Frame] = LRUCache(maxsize=entries)
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> Frame | None:
        with self._lock:
            return self._frames.get(key)

    def build(self, key: Hashable, make: Callable[[], Frame]) -> Frame:
        """The frame for `key`, made once however many threads ask at the same time."""
        with self._lock:
            found = self._frames.get(key)
            if found is not None:
                return found
            building = self._building.setdefault(key, threading.Lock())
        with building:
            found = self.get(key)
            if found is None:
                found = make()
                with self._lock:
                    self._frames[key] = found
            with self._lock:
                self._building.pop(key, None)
            return found

"""Which tables hold personal data, declared next to each table's definition.

A table that can hold a customer's personal data declares it next to its definition as a
`PersonalData` (silver and gold tables: `personal` in their `TableSpec`); `lakehouse maintain
--purge-erased` (`lakehouse.maintenance.purge_erased`) lists every declaration
(`personal_data_tables`) and scrubs and vacuums exactly those tables. A table without a declaration
holds none (customer ids are pseudonyms: erasure keeps them, as silver.customers keeps the erased
customer's versions).

Two kinds of personal data:
- `columns`: structured columns (email, name, address), set to null on the rows of an erased
  customer (`customer` says which customer a row belongs to), or the row is deleted
  (`delete_rows`) when it has no use without them;
- `free_text`: text that may quote personal values (a rejected row as JSON, a quarantined raw
  line, a CRM payload, check examples): the value is replaced by its `free_text` redaction (an
  SQL expression over the row) wherever it mentions an erased customer's email, name or address,
  or the row belongs to an erased customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class PersonalData:
    table: str
    columns: tuple[str, ...] = ()
    # column → SQL expression of its redacted value (may use the row's other columns)
    free_text: Mapping[str, str] = field(default_factory=dict)
    # SQL expression of the row's customer_id (None: rows are matched by the values they quote)
    customer: str | None = "customer_id"
    delete_rows: bool = False

    def __post_init__(self) -> None:  # read-only once declared
        if isinstance(self.columns, str):
            raise ValueError(f"personal data of {self.table}: columns is a tuple of names, got {self.columns!r}")
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "free_text", MappingProxyType(dict(self.free_text)))

"""Money and FX rates as decimals: the types, the checks that admit a source value into them, and
the one division whose rounding both engines must agree on.

From silver on every amount is a DECIMAL; bronze keeps what the app database and the rates API
gave (doubles). Types:

- `PRICE` DECIMAL(18,2): unit prices in the order's currency (the app database's cents);
- `DISCOUNT` DECIMAL(5,4): a fraction in [0, 1), to a hundredth of a percent;
- `RATE` DECIMAL(18,8): units of currency per 1 EUR;
- `GROSS` DECIMAL(22,6): `quantity * unit_price * (1 - discount)`, exact (2 + 4 decimals);
- `NET` DECIMAL(18,10): the line's EUR amount, `gross / rate` rounded half-up to 10 decimals;
- `CENTS` DECIMAL(18,2): every gold money column, rounded half-up to cents where the data
  contract says so (sums of `NET`, and averages of those).

A source value is admitted only when the decimal holds it exactly (`not_exactly`): a double
that is not the nearest double to a value of the type's scale (a price of 12.345, a rate with 9
decimals), or that overflows it, NaN or infinite, is rejected by the table's rule rather than
rounded.

Division differs between the engines (measured on pysail 0.7.2 and Apache Spark 4.0.1, both
with `spark.sql.decimalOperations.allowPrecisionLoss=true`, the default): DECIMAL(22,6) /
DECIMAL(18,8) is DECIMAL(38,14) rounded half-up on Spark and DECIMAL(34,10) truncated on Sail.
`divide_half_up` therefore takes the engine's quotient as a first guess and corrects it by one
unit of the last place with exact multiplications (which both engines compute alike), so the
result is the exact quotient rounded half-up on both. Rounding to cents uses `round`, half-up
for decimals on both engines.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

PRICE = DecimalType(18, 2)
DISCOUNT = DecimalType(5, 4)
RATE = DecimalType(18, 8)
GROSS = DecimalType(22, 6)
NET = DecimalType(18, 10)
CENTS = DecimalType(18, 2)
# Quantities above this do not fit the DECIMAL(10,0) the gross amount is computed in.
MAX_QUANTITY = 1_000_000_000
# A line's amount must stay below these (checked in doubles, before any decimal is computed, so
# that no cast or product can overflow): `GROSS` holds 16 integer digits, `NET` 8.
MAX_GROSS = 1e15
MAX_NET_EUR = 5e7


def _sql_type(kind: DecimalType) -> str:
    return f"DECIMAL({kind.precision},{kind.scale})"


def not_exactly(column: str, kind: DecimalType) -> str:
    """SQL that is TRUE when the (double) `column` is not null and `kind` cannot hold it exactly:
    NaN, infinite, too large, or with more decimals than the type's scale."""
    held = f"try_cast({column} AS {_sql_type(kind)})"
    return f"{column} IS NOT NULL AND ({held} IS NULL OR CAST({held} AS DOUBLE) <> {column})"


def as_decimal(column: str, kind: DecimalType) -> Column:
    """The (double) `column` as `kind`; null where it does not fit (rules reject those rows)."""
    return F.expr(f"try_cast({column} AS {_sql_type(kind)})")


def gross_amount(quantity: Column, unit_price: Column, discount: Column) -> Column:
    """`quantity * unit_price * (1 - discount)` as `GROSS`, exact (rules bound the inputs)."""
    one = F.lit(1).cast(DISCOUNT)
    return (quantity.cast(DecimalType(10, 0)) * unit_price.cast(PRICE) * (one - discount.cast(DISCOUNT))).cast(GROSS)


def divide_half_up(numerator: Column, denominator: Column) -> Column:
    """`numerator / denominator` (a `GROSS` by a positive `RATE`) rounded half-up to `NET`'s scale.

    `guess` is within one unit of the last place of the exact quotient q on both engines. With
    `rest = numerator - guess * denominator` (exact), q - guess = rest / denominator, so q rounds
    up to guess + ulp when rest >= denominator * ulp / 2, down to guess - ulp when
    rest < -denominator * ulp / 2, and to guess otherwise.
    """
    ulp = F.lit("0.0000000001").cast(DecimalType(10, 10))
    half = F.lit("0.00000000005").cast(DecimalType(11, 11))
    n, d = numerator.cast(GROSS), denominator.cast(RATE)
    guess = (n / d).cast(NET)
    rest = n - guess * d
    bound = d * half
    return (
        F.when(rest >= bound, guess + ulp).when(rest < -bound, guess - ulp).otherwise(guess).cast(NET)
    )


def cents(amount: Column) -> Column:
    """`amount` rounded half-up to cents, as `CENTS`."""
    return F.round(amount, 2).cast(CENTS)


def per(amount: Column, count: Column) -> Column:
    """`amount / count` (a cents amount by a positive whole count) rounded half-up to cents.

    Exact on both engines: Spark rounds the quotient half-up at 22 decimals, Sail truncates at 6,
    and a quotient by a count below 10^20 is never within 10^-22 of a half cent without being on
    it, so rounding either to cents gives the exact quotient's half-up rounding.
    """
    return cents(amount.cast(CENTS) / count.cast("bigint"))

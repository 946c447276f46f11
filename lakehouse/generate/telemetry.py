"""IoT telemetry of chilled vans and warehouses: one reading per device every 5 minutes.

Temperatures sit around 3–5 °C; now and then a device has an excursion above 8 °C lasting 10–90
minutes (a few faulty vans far more often). A day's readings depend only on the seed and the day,
so the previous day's late readings can be recomputed when a later run writes the next day.

Defects, as a real feed has them: impossible values (~0.2%), repeated readings (~0.5%, same
`device_id` + `seq`), late readings (~1%, landed in the next day's folder), lines out of order,
and a few malformed lines.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np

from lakehouse.files import Location
from lakehouse.generate.files import chunk_lines, write_day_files
from lakehouse.generate.model import READING_INTERVAL_S, SLOTS_PER_DAY, Clock, Stream, day_rng

log = logging.getLogger(__name__)

LINES_PER_FILE = 5000
EXCURSION_CHANCE = {"faulty": 0.3, "van": 0.015, "wh": 0.01}
LATE, IMPOSSIBLE, REPEATED, DELAYED = 0.01, 0.002, 0.005, 0.02


@dataclass(frozen=True)
class Excursion:
    device: int
    start_slot: int
    slots: int
    peak_c: float


def faulty_vans(seed: int, devices: tuple[str, ...]) -> np.ndarray:
    """Which devices are badly maintained vans: about one van in four, at least one."""
    vans = [i for i, d in enumerate(devices) if d.startswith("van-")]
    order = day_rng(seed, 0, Stream.DEVICES).permutation(len(vans))
    faulty = np.zeros(len(devices), dtype=bool)
    faulty[[vans[i] for i in order[: max(1, len(vans) // 4)]]] = True
    return faulty


def excursions(seed: int, day: int, devices: tuple[str, ...]) -> list[Excursion]:
    """The day's periods above 8 °C, each within the day."""
    rng = day_rng(seed, day, Stream.EXCURSIONS)
    faulty = faulty_vans(seed, devices)
    kinds = ["faulty" if faulty[i] else d.split("-")[0] for i, d in enumerate(devices)]
    hit = rng.random(len(devices)) < np.array([EXCURSION_CHANCE[k] for k in kinds])
    found = []
    for device in np.flatnonzero(hit):
        slots = int(np.ceil(rng.integers(10, 91) / 5))
        start = int(rng.integers(1, SLOTS_PER_DAY - slots - 1))
        found.append(Excursion(int(device), start, slots, float(rng.uniform(8.6, 13.5))))
    return found


def _temperatures(rng: np.random.Generator, devices: tuple[str, ...], trips: list[Excursion]) -> np.ndarray:
    n = len(devices)
    level = rng.uniform(3.2, 4.6, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    cycle = 0.35 * np.sin(2 * np.pi * np.arange(SLOTS_PER_DAY) / SLOTS_PER_DAY + phase)
    temps = np.clip(level + cycle + rng.normal(0, 0.15, size=(n, SLOTS_PER_DAY)), 2.2, 6.2)
    for trip in trips:
        shape = np.sin(np.pi * (np.arange(trip.slots) + 0.5) / trip.slots)
        temps[trip.device, trip.start_slot : trip.start_slot + trip.slots] = 8.2 + (trip.peak_c - 8.2) * shape
        temps[trip.device, trip.start_slot - 1] = 6.4  # warming up, still below the limit
        temps[trip.device, trip.start_slot + trip.slots] = 6.9  # cooling down
    return np.round(temps, 2)


def _readings(seed: int, day: int, clock: Clock, devices: tuple[str, ...]) -> list[dict[str, object]]:
    """The day's true readings, slot by slot across devices; `seq` counts per device from day 0."""
    rng = day_rng(seed, day, Stream.TELEMETRY)
    n = len(devices)
    temps = _temperatures(rng, devices, excursions(seed, day, devices))
    van = np.array([d.startswith("van-") for d in devices])[:, None]
    humidity = np.round(np.clip(np.where(van, 82.0, 66.0) + rng.normal(0, 3, (n, SLOTS_PER_DAY)), 40, 99.5), 1)
    drain = np.where(van, 65.0, 1.0) * np.arange(SLOTS_PER_DAY) / SLOTS_PER_DAY
    battery = np.round(np.clip(100.0 - drain + rng.normal(0, 0.4, (n, SLOTS_PER_DAY)), 3, 100), 1)
    seconds = np.arange(SLOTS_PER_DAY) * READING_INTERVAL_S + rng.integers(0, 5, size=(n, SLOTS_PER_DAY))
    stamps = clock.iso_times(day, seconds.T.ravel())
    temps_t, humidity_t, battery_t = temps.T.ravel().tolist(), humidity.T.ravel().tolist(), battery.T.ravel().tolist()
    return [
        {"device_id": devices[k % n], "seq": day * SLOTS_PER_DAY + k // n, "ts": stamps[k],
         "temperature_c": temps_t[k], "humidity": humidity_t[k], "battery_pct": battery_t[k]}
        for k in range(n * SLOTS_PER_DAY)
    ]


def _break_values(rng: np.random.Generator, records: list[dict[str, object]]) -> None:
    """Sensors sometimes report what cannot be: 999 or -273 °C, battery 150 or -5 %, humidity over 100."""
    broken = np.flatnonzero(rng.random(len(records)) < IMPOSSIBLE)
    if not len(broken):
        broken = np.array([rng.integers(len(records))])
    for index, kind in zip(broken, rng.integers(5, size=len(broken)), strict=True):
        field, value = [("temperature_c", 999.0), ("temperature_c", -273.0), ("battery_pct", 150.0),
                        ("battery_pct", -5.0), ("humidity", round(float(rng.uniform(100.5, 140)), 1))][kind]
        records[index][field] = value


def _malform(rng: np.random.Generator, lines: list[str]) -> None:
    count = max(1, round(len(lines) * 0.0003))
    for index, kind in zip(rng.choice(len(lines), size=count, replace=False), rng.integers(2, size=count),
                           strict=True):
        record = json.loads(lines[index])
        lines[index] = lines[index][: len(lines[index]) // 2] if kind == 0 else json.dumps(list(record.values()))


def day_lines(seed: int, day: int, clock: Clock, devices: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(lines landing in the day's folder in arrival order, late lines that land in the next day's)."""
    records = _readings(seed, day, clock, devices)
    rng = day_rng(seed, day, Stream.TELEMETRY_DEFECTS)
    _break_values(rng, records)
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    n = len(lines)
    late = rng.random(n) < LATE
    arrival = (np.arange(n) // len(devices)) * float(READING_INTERVAL_S)
    arrival += (rng.random(n) < DELAYED) * rng.uniform(READING_INTERVAL_S, 6 * READING_INTERVAL_S, size=n)
    repeated = np.flatnonzero((rng.random(n) < REPEATED) & ~late)
    again = arrival[repeated] + rng.uniform(1, 900, size=len(repeated))
    keyed = [(arrival[i], i) for i in np.flatnonzero(~late)] + [
        (float(a), n + k) for k, a in enumerate(again)
    ]
    keyed.sort()
    on_time = [lines[i] if i < n else lines[repeated[i - n]] for _, i in keyed]
    _malform(rng, on_time)
    return on_time, [lines[i] for i in np.flatnonzero(late)]


def write_day(folder: Location, lines: list[str], late_from_yesterday: list[str]) -> int:
    """Write the day's `readings-NNNN.jsonl` files (yesterday's late readings arrive first); returns lines."""
    everything = late_from_yesterday + lines
    write_day_files(folder, "readings", chunk_lines(everything, LINES_PER_FILE))
    return len(everything)

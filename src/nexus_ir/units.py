"""Numbers for people to read: SI prefixes (5.06 mJ, 70.5 µs). JSON and CSV keep full
precision; only human-facing text goes through here."""

from __future__ import annotations

PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
            (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """``value`` with the SI prefix that puts 1–999 before the unit, to ``digits`` significant
    digits (0 is ``0 J``); '—' for None."""
    if value is None:
        return "—"
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in PREFIXES:
        if abs(value) >= factor * (1 - 0.5 * 10 ** -digits):
            break
    return f"{value / factor:.{digits}g} {prefix}{unit}"

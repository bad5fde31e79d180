"""Carbon: grams of CO2-equivalent per inference from the predicted energy, the data centre's
PUE and the carbon intensity of a country's grid or a cloud region, read from the tables the
``codecarbon`` package ships (its global energy mix by country, and the providers' published
region figures) rather than a table kept here. Every figure carries its source and CodeCarbon's
version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import NexusError, install_hint

JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Grid:
    """A grid's carbon intensity (gCO2e per kWh) and where the number comes from."""

    name: str
    g_per_kwh: float
    source: str


def _codecarbon() -> Any:
    try:
        import codecarbon
        from codecarbon.input import DataSource
    except ImportError:
        raise NexusError("carbon figures read CodeCarbon's intensity tables: "
                         + install_hint("carbon")) from None
    return codecarbon.__version__, DataSource()


def grid(name: str) -> Grid:
    """The grid ``name`` names: a country (ISO 3166 ``FR`` or ``FRA``) from CodeCarbon's
    global energy mix, or a cloud region (``gcp:europe-west1``, ``aws:us-east-1``,
    ``azure:westeurope``) from its providers' published region figures."""
    version, data = _codecarbon()
    provider, sep, region = name.partition(":")
    if sep:
        table = data.get_cloud_emissions_data()
        rows = table[(table["provider"] == provider.lower()) & (table["region"] == region)]
        if rows.empty:
            known = sorted(set(table["provider"]))
            raise NexusError(f"grid {name!r}: CodeCarbon {version} lists no region {region!r} "
                             f"for {provider!r} (providers: {', '.join(known)}; regions as the "
                             "provider names them, e.g. gcp:europe-west1)")
        row = rows.iloc[0]
        return Grid(name, float(row["impact"]), f"CodeCarbon {version} data/cloud/impact.csv: "
                                                f"{row['providerName']} {region} "
                                                f"({row['source']})")
    code = _iso3(name)
    mix = data.get_global_energy_mix_data()
    if code not in mix:
        raise NexusError(f"grid {name!r}: not a country CodeCarbon {version} has an energy mix "
                         "for; give an ISO 3166 code (FR, DEU) or a cloud region "
                         "(gcp:europe-west1)")
    entry = mix[code]
    return Grid(name, float(entry["carbon_intensity"]),
                f"CodeCarbon {version} global_energy_mix.json: {entry['country_name']}, "
                f"{entry.get('year', 'latest')}")


def _iso3(code: str) -> str:
    """An ISO 3166 alpha-3 code from alpha-2 or alpha-3 (pycountry, CodeCarbon's own)."""
    import pycountry

    country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else \
        pycountry.countries.get(alpha_3=code.upper()) if len(code) == 3 else None
    if country is None:
        raise NexusError(f"grid {code!r}: not an ISO 3166 country code (FR, DEU) or a cloud "
                         "region (gcp:europe-west1)")
    return country.alpha_3


def carbon_metrics(energy_j: float, name: str, pue: float = 1.0) -> dict[str, Any]:
    """``co2e_g`` per inference and the ``carbon`` record behind it for ``energy_j`` joules
    on grid ``name`` in a data centre of power usage effectiveness ``pue`` (≥ 1)."""
    if not pue >= 1.0:
        raise NexusError(f"--pue {pue:g}: a power usage effectiveness is 1 or more (1.0: "
                         "the IT load alone; 1.1-1.6 for data centres)")
    found = grid(name)
    co2e = energy_j / JOULES_PER_KWH * pue * found.g_per_kwh
    return {"co2e_g": co2e,
            "carbon": {"grid": found.name, "g_per_kwh": found.g_per_kwh, "pue": pue,
                       "per_million_g": co2e * 1e6, "source": found.source}}

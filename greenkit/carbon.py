"""Energy to grams of CO2-equivalent, from a dated, cited table of grid carbon intensities.

.. math:: m_{CO_2e}\\,[\\mathrm{g}] = \\frac{E\\,[\\mathrm{J}]}{3.6\\times10^{6}\\,\\mathrm{J/kWh}}
          \\cdot \\mathrm{PUE} \\cdot I\\,[\\mathrm{g/kWh}]

- :math:`I` is the grid's carbon intensity: a row of :data:`REGIONS` (each with its
  year, source and scope) or a value you supply (``intensity_g_per_kwh=``).
- PUE (power usage effectiveness) scales IT energy to facility energy; the default 1.0
  suits a personal machine (no data-centre cooling or power conversion to add). Use your
  data centre's stated PUE (often 1.1-1.6) for a server.
- The default region is ``"world"``, and every :class:`Footprint` says which region and
  source it used. Nothing is looked up over the network: classrooms may be offline, and
  guessing a region from an IP address gives wrong answers; pass ``region=``.

Scopes differ between sources and this matters when comparing rows: Ember figures are
*life-cycle* emissions per kWh *generated* (gCO2e/kWh); China's MEE/NBS factors
are *direct CO2* per kWh of grid electricity consumed (gCO2/kWh). Ember's figures are rounded
here to two significant figures; official factors keep their published digits. Check
the cited source for newer years before publishing a result.

>>> footprint(3.6e6, region="france").grams_co2e   # 1 kWh in France, 2023
56.0
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["DEFAULT_REGION", "Footprint", "GridIntensity", "REGIONS", "footprint", "regions"]

DEFAULT_REGION = "world"
J_PER_KWH = 3.6e6


@dataclasses.dataclass(frozen=True)
class GridIntensity:
    """One row: grams per kWh, the year the figure describes, and where it was published."""

    g_per_kwh: float
    year: int
    source: str
    scope: str
    note: str = ""


_EMBER = "Ember, Yearly electricity data / Global Electricity Review 2024 (ember-energy.org), 2 s.f."
_EMBER_SCOPE = "life-cycle gCO2e per kWh generated"
_MEE_NBS = ("China Ministry of Ecology and Environment (MEE) and National Bureau of Statistics (NBS), "
            "'Announcement on the 2022 electricity CO2 emission factors' (20 Dec 2024)")
_MEE_NBS_SCOPE = "CO2 per kWh of electricity consumed (grid average), for accounting electricity use"
#: region key -> GridIntensity. Keys are lower-case; see :func:`regions`.
REGIONS: dict[str, GridIntensity] = {
    "world": GridIntensity(480, 2023, _EMBER, _EMBER_SCOPE, "global average"),
    "china-ember": GridIntensity(580, 2023, _EMBER, _EMBER_SCOPE, "China, Ember's life-cycle figure"),
    "india": GridIntensity(710, 2023, _EMBER, _EMBER_SCOPE),
    "united-states": GridIntensity(370, 2023, _EMBER, _EMBER_SCOPE),
    "japan": GridIntensity(490, 2023, _EMBER, _EMBER_SCOPE),
    "germany": GridIntensity(380, 2023, _EMBER, _EMBER_SCOPE),
    "united-kingdom": GridIntensity(240, 2023, _EMBER, _EMBER_SCOPE),
    "france": GridIntensity(56, 2023, _EMBER, _EMBER_SCOPE, "mostly nuclear"),
    "poland": GridIntensity(660, 2023, _EMBER, _EMBER_SCOPE, "mostly coal"),
    "sweden": GridIntensity(41, 2023, _EMBER, _EMBER_SCOPE),
    "norway": GridIntensity(30, 2023, _EMBER, _EMBER_SCOPE, "mostly hydro"),
    "brazil": GridIntensity(98, 2023, _EMBER, _EMBER_SCOPE),
    "canada": GridIntensity(170, 2023, _EMBER, _EMBER_SCOPE),
    "china": GridIntensity(536.6, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                           "national average, the official factor for the CO2 of electricity use; 0.5568 in 2021"),
    "china-ets": GridIntensity(
        570.3, 2022,
        "China MEE, notice Huanban Qihou Han [2023] No. 43: national grid average emission factor 0.5703 tCO2/MWh",
        "direct CO2 per kWh of national grid electricity", "the factor companies use in their 2023-2025 "
        "greenhouse-gas reports under the national carbon market; for a footprint use 'china'"),
    "china-north": GridIntensity(677.6, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                                 "North China grid: Beijing, Tianjin, Hebei, Shanxi, Shandong, west Inner Mongolia"),
    "china-northeast": GridIntensity(556.4, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                                     "Northeast grid: Liaoning, Jilin, Heilongjiang, east Inner Mongolia"),
    "china-east": GridIntensity(561.7, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                                "East China grid: Shanghai, Jiangsu, Zhejiang, Anhui, Fujian"),
    "china-central": GridIntensity(539.5, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                                   "Central China grid: Henan, Hubei, Hunan, Jiangxi"),
    "china-northwest": GridIntensity(585.7, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                                     "Northwest grid: Shaanxi, Gansu, Qinghai, Ningxia, Xinjiang"),
    "china-south": GridIntensity(386.9, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                                 "China Southern grid: Guangdong, Guangxi, Yunnan, Guizhou, Hainan"),
    "china-southwest": GridIntensity(226.8, 2022, _MEE_NBS, _MEE_NBS_SCOPE,
                                     "Southwest grid: Sichuan, Chongqing, Tibet (mostly hydro)"),
}

_ALIASES = {"us": "united-states", "usa": "united-states", "uk": "united-kingdom", "gb": "united-kingdom",
            "cn": "china", "de": "germany", "fr": "france", "in": "india", "jp": "japan"}


def regions() -> list[str]:
    """Region keys accepted by :func:`footprint`, sorted."""
    return sorted(REGIONS)


@dataclasses.dataclass(frozen=True)
class Footprint:
    """Grams CO2e of some energy, with every factor that produced it."""

    grams_co2e: float
    energy_j: float
    region: str
    intensity_g_per_kwh: float
    year: int | None
    source: str
    scope: str
    pue: float
    pue_note: str
    default_region: bool

    def __repr__(self) -> str:
        region = f"{self.region!r}" + (" (the default; pass region=...)" if self.default_region else "")
        year = f", {self.year}" if self.year is not None else ""
        return (f"Footprint: {self.grams_co2e:.4g} g CO2e = {self.energy_j:.4g} J / 3.6e6 J/kWh x PUE {self.pue:g} "
                f"x {self.intensity_g_per_kwh:g} g/kWh\n  region {region}{year}; {self.scope}\n"
                f"  source: {self.source}\n  PUE: {self.pue_note}")

    def _repr_html_(self) -> str:
        return "<pre>" + repr(self).replace("&", "&amp;").replace("<", "&lt;") + "</pre>"


def footprint(energy_j, region: str = DEFAULT_REGION, pue: float = 1.0,
              intensity_g_per_kwh: float | None = None) -> Footprint:
    """Grams CO2e for ``energy_j`` joules (or any object with an ``energy_j`` attribute).

    ``region``: a key of :data:`REGIONS` (case-insensitive; a few ISO-like aliases);
    ``intensity_g_per_kwh`` overrides the table with your own figure (then ``region`` only
    labels it); ``pue`` >= 1.

    >>> round(footprint(3.6e6, intensity_g_per_kwh=100, pue=1.5).grams_co2e, 6)
    150.0
    """
    e = getattr(energy_j, "energy_j", energy_j)
    if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) or e < 0:
        raise ValueError(f"energy_j must be a finite number of joules >= 0, got {energy_j!r}")
    if isinstance(pue, bool) or not isinstance(pue, (int, float)) or not math.isfinite(pue) or pue < 1.0:
        raise ValueError(f"pue must be >= 1.0 (facility energy / IT energy), got {pue!r}")
    key = _ALIASES.get(str(region).strip().lower(), str(region).strip().lower())
    if intensity_g_per_kwh is not None:
        if not (isinstance(intensity_g_per_kwh, (int, float)) and math.isfinite(intensity_g_per_kwh)
                and intensity_g_per_kwh >= 0):
            raise ValueError(f"intensity_g_per_kwh must be a number >= 0, got {intensity_g_per_kwh!r}")
        label = key if region != DEFAULT_REGION else "custom"
        row = GridIntensity(float(intensity_g_per_kwh), None, "user-supplied value", "as supplied by the user")
        default_region = False
    else:
        if key not in REGIONS:
            raise ValueError(f"unknown region {region!r}; known: {', '.join(regions())}; or pass "
                             "intensity_g_per_kwh= with your grid's figure")
        label, row, default_region = key, REGIONS[key], region == DEFAULT_REGION
    pue_note = ("1.0: a personal machine, no data-centre overhead (the default)" if pue == 1.0
                else f"{pue:g}: given by the user")
    grams = e / J_PER_KWH * pue * row.g_per_kwh
    return Footprint(grams, float(e), label, row.g_per_kwh, row.year, row.source
                     + (f" ({row.note})" if row.note else ""), row.scope, float(pue), pue_note, default_region)

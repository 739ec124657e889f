"""greenkit.carbon: energy to grams CO2e with dated, cited intensities."""

from __future__ import annotations

import types

import pytest

from greenkit import carbon
from greenkit.carbon import REGIONS, footprint, regions


def test_one_kwh_at_world_average():
    """Is 3.6 MJ (1 kWh) at PUE 1 exactly the world intensity in grams, with the default region stated?"""
    f = footprint(3.6e6)
    assert f.grams_co2e == pytest.approx(REGIONS["world"].g_per_kwh)
    assert f.region == "world" and f.default_region and "the default" in repr(f)
    assert f.year == REGIONS["world"].year and "Ember" in f.source


def test_formula_with_pue_and_custom_intensity():
    """Is grams = J / 3.6e6 x PUE x g/kWh, with a user figure labelled user-supplied?"""
    f = footprint(7.2e6, pue=1.5, intensity_g_per_kwh=200)
    assert f.grams_co2e == pytest.approx(2 * 1.5 * 200)
    assert f.source == "user-supplied value" and f.region == "custom" and f.year is None


def test_every_row_is_dated_and_cited():
    """Does every table row have a positive figure, a plausible year, a source and a scope?"""
    for key, row in REGIONS.items():
        assert 0 < row.g_per_kwh < 1500, key
        assert 2010 <= row.year <= 2030, key
        assert len(row.source) > 10 and row.scope, key


def test_china_national_and_regional_grids():
    """Are China's official 2022 factors there: national (MEE/NBS) and all seven regional grids?"""
    assert "MEE" in REGIONS["china"].source and REGIONS["china"].g_per_kwh == pytest.approx(536.6)
    assert REGIONS["china"].year == 2022
    for g in ("north", "northeast", "east", "central", "northwest", "south", "southwest"):
        row = REGIONS[f"china-{g}"]
        assert "NBS" in row.source and row.year == 2022, g
    assert REGIONS["china-southwest"].g_per_kwh < REGIONS["china-south"].g_per_kwh < REGIONS["china-north"].g_per_kwh
    assert footprint(3.6e6, region="CN").region == "china"
    assert footprint(3.6e6, region="china").grams_co2e == pytest.approx(536.6)


def test_accepts_energy_report_like():
    """Does footprint take any object with energy_j (an EnergyReport) as well as a number?"""
    assert footprint(types.SimpleNamespace(energy_j=3.6e6)).grams_co2e == footprint(3.6e6).grams_co2e


@pytest.mark.parametrize("kwargs", [
    {"energy_j": -1.0}, {"energy_j": float("nan")}, {"energy_j": "1"}, {"energy_j": 1.0, "pue": 0.9},
    {"energy_j": 1.0, "region": "atlantis"}, {"energy_j": 1.0, "intensity_g_per_kwh": -5},
])
def test_invalid_inputs_raise(kwargs):
    """Are negative/NaN energy, PUE < 1, unknown regions and negative intensities refused with ValueError?"""
    with pytest.raises(ValueError):
        footprint(**kwargs)


def test_regions_sorted_and_complete():
    """Does regions() list every table key, sorted?"""
    assert regions() == sorted(REGIONS) and carbon.DEFAULT_REGION in regions()

"""A validated inventory comes back from the cache equal to a fresh validation, and only then."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory

SIZE = FleetSize(cameras=30, door_sets=4, checkpoints=2, switches=3)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The cache folder is configuration (an environment variable), not the code under test.
    folder = tmp_path / "cache"
    monkeypatch.setenv("SLAWATCH_CACHE_DIR", str(folder))
    return folder / "inventory"


def fleet(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    file = folder / "inventory.yaml"
    write_inventory(file, inventory_header(SIZE), fleet_devices(SIZE), fleet_sets(SIZE))
    return file


def test_a_second_load_comes_from_the_cache_equal_to_validation(
    tmp_path: Path, cache: Path
) -> None:
    file = fleet(tmp_path / "site")
    first = load_config(file, Inventory)
    (entry,) = cache.glob("*.pickle")
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    second = load_config(file, Inventory)
    assert second is not first
    assert second == first
    assert second.devices == first.devices
    assert second.sets == first.sets
    assert [type(d.onvif) for d in second.devices] == [type(d.onvif) for d in first.devices]
    with pytest.raises(AttributeError):  # still frozen
        second.devices[0].name = "x"  # type: ignore[misc]
    # A changed file misses: the new bytes are validated, and their answer stored too.
    file.write_text(file.read_text().replace("Simulated district", "Renamed district"))
    assert load_config(file, Inventory).sites[0].name == "Renamed district"
    assert len(list(cache.glob("*.pickle"))) == 2
    assert entry.exists()


def test_an_invalid_inventory_is_never_cached_and_still_names_its_line(
    tmp_path: Path, cache: Path
) -> None:
    file = fleet(tmp_path / "site")
    text = file.read_text()
    file.write_text(text.replace('"address": "127.', '"address": "999.', 1))
    for _ in range(2):
        with pytest.raises(
            ConfigError, match=r"inventory.yaml:\d+: devices\[0\]\.address: .*999\."
        ):
            load_config(file, Inventory)
    assert not list(cache.glob("*.pickle"))


def test_a_cache_others_can_write_to_is_not_read(tmp_path: Path, cache: Path) -> None:
    file = fleet(tmp_path / "site")
    load_config(file, Inventory)
    (entry,) = cache.glob("*.pickle")
    entry.write_bytes(b"not a pickle of ours")
    os.chmod(entry, 0o666)
    assert len(load_config(file, Inventory).devices) == SIZE.devices  # validated again
    os.chmod(cache, 0o777)
    entry.write_bytes(b"not a pickle of ours")
    assert len(load_config(file, Inventory).devices) == SIZE.devices
    assert entry.read_bytes() == b"not a pickle of ours"  # neither read nor replaced

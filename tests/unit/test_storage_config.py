"""``[storage]`` retention checks of ``config.toml`` (ADR 0018 section 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trellis.node.config import ConfigError, NodeConfig, load_config


def _load(tmp_path: Path, storage: str) -> NodeConfig:
    path = tmp_path / "config.toml"
    path.write_text("[storage]\n" + storage)
    return load_config(path)


def test_keep_recent_below_the_snapshot_interval_is_accepted(tmp_path: Path) -> None:
    # A snapshot reads its height through one MVCC read view: pruning cannot disturb it, whatever the interval.
    cfg = _load(tmp_path, "keep_recent = 2\nsnapshot_interval = 100\n")
    assert cfg.storage.keep_recent == 2 and cfg.storage.snapshot_interval == 100


def test_keep_recent_of_one_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage\.keep_recent must be 0 .* or at least 2"):
        _load(tmp_path, "keep_recent = 1\n")


def test_prune_blocks_without_keep_recent_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"prune_blocks needs storage\.keep_recent"):
        _load(tmp_path, "prune_blocks = true\n")

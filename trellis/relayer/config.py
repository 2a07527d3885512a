"""``relayer.toml``: the chains, the paths between them and the metrics listener (docs/guides/relayer.md).

```toml
[relayer]                      # optional
scan_interval_s = 30           # recovery scan period (also run at start)
shard = "0/1"                  # this relayer handles sequences with seq % n == i

[[chain]]
id = "chain-a"
api = ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
key = "/home/op/.trellis/keys/relayer.pem"   # a key file of the CLI's keystore
passphrase_file = "/home/op/relayer.pass"   # optional: the key's passphrase
genesis = "/srv/chain-a/genesis.json"       # optional: needed only to create clients (handshake)
max_tx_bytes = 65536                        # optional: the chain's limit, if lower
max_items = 256                             # optional

[[path]]
a = "chain-a"
b = "chain-b"
a_client = "client-0"          # chain a's client of chain b
b_client = "client-0"          # chain b's client of chain a
a_connection = "connection-0"
b_connection = "connection-0"
channels = [{port = "transfer", a_channel = "channel-0", b_channel = "channel-0"}]

[metrics]
listen = "127.0.0.1:9464"
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trellis.core.ledger.tx import MAX_TX_BYTES
from trellis.core.modules.interchain.messages import MAX_RELAY_ITEMS

_CLIENT = re.compile(r"client-(0|[1-9][0-9]{0,19})")
_CONNECTION = re.compile(r"connection-(0|[1-9][0-9]{0,19})")
_CHANNEL = re.compile(r"channel-(0|[1-9][0-9]{0,19})")
_PORT = re.compile(r"[a-z][a-z0-9_]{0,31}")
_LISTEN = re.compile(r"(?P<host>[^\s:]+|\[[0-9a-fA-F:]+\]):(?P<port>[0-9]{1,5})")


class ConfigError(ValueError):
    """``relayer.toml`` is not usable; the message names the entry."""


@dataclass(frozen=True)
class ChainConfig:
    """One ``[[chain]]``."""

    id: str
    api: list[str]
    key: Path
    passphrase_file: Path | None = None
    genesis: Path | None = None
    max_tx_bytes: int = MAX_TX_BYTES
    max_items: int = MAX_RELAY_ITEMS


@dataclass(frozen=True)
class ChannelConfig:
    """One channel of a path: ``port`` on chain a (and ``b_port`` on chain b, default the same)."""

    port: str
    a_channel: str
    b_channel: str
    b_port: str = ""

    @property
    def counterparty_port(self) -> str:
        """The port on chain b."""
        return self.b_port or self.port


@dataclass(frozen=True)
class PathConfig:
    """One ``[[path]]``: two chains, their clients of each other, the connection and its channels."""

    a: str
    b: str
    a_client: str
    b_client: str
    a_connection: str
    b_connection: str
    channels: list[ChannelConfig]

    @property
    def name(self) -> str:
        """``a<->b`` (status and logs)."""
        return f"{self.a}<->{self.b}"


@dataclass(frozen=True)
class RelayerConfig:
    """The whole file."""

    chains: dict[str, ChainConfig]
    paths: list[PathConfig]
    metrics_listen: tuple[str, int] | None = None
    scan_interval_s: float = 30.0
    shard: tuple[int, int] = (0, 1)
    source: Path | None = field(default=None, compare=False)


def parse_shard(text: str) -> tuple[int, int]:
    """``i/n`` with ``0 <= i < n`` -> ``(i, n)``.

    Raises:
        ConfigError: anything else.
    """
    m = re.fullmatch(r"([0-9]{1,4})/([0-9]{1,4})", text.strip())
    if m is None or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
        raise ConfigError(f"shard must be i/n with 0 <= i < n, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> ``(host, port)``.

    Raises:
        ConfigError: anything else.
    """
    m = _LISTEN.fullmatch(text.strip())
    if m is None or not 0 < int(m.group("port")) < 65536:
        raise ConfigError(f"[metrics] listen must be HOST:PORT, got {text!r}")
    return m.group("host").strip("[]"), int(m.group("port"))


def _str(tbl: dict[str, Any], name: str, where: str, pattern: re.Pattern[str] | None = None) -> str:
    v = tbl.get(name)
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}: '{name}' must be a non-empty string")
    if pattern is not None and not pattern.fullmatch(v):
        raise ConfigError(f"{where}: '{name}' = {v!r} is not a valid identifier")
    return v


def _path(v: Any, base: Path, where: str, name: str) -> Path:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}: '{name}' must be a path")
    p = Path(v).expanduser()
    return p if p.is_absolute() else base / p


def _int(tbl: dict[str, Any], name: str, default: int, lo: int, hi: int, where: str) -> int:
    v = tbl.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(f"{where}: '{name}' must be an integer in {lo}..{hi}")
    return v


_CHAIN_KEYS = {"id", "api", "key", "passphrase_file", "genesis", "max_tx_bytes", "max_items"}
_PATH_KEYS = {"a", "b", "a_client", "b_client", "a_connection", "b_connection", "channels"}
_CHANNEL_KEYS = {"port", "a_channel", "b_channel", "b_port"}


def _unknown(tbl: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(tbl) - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")


def parse_config(data: dict[str, Any], base: Path = Path(".")) -> RelayerConfig:
    """A ``RelayerConfig`` of a parsed TOML document (relative paths are relative to ``base``).

    Raises:
        ConfigError: the first problem found.
    """
    _unknown(data, {"relayer", "chain", "path", "metrics"}, "relayer.toml")
    chains: dict[str, ChainConfig] = {}
    raw_chains = data.get("chain", [])
    if not isinstance(raw_chains, list) or not raw_chains:
        raise ConfigError("relayer.toml: at least one [[chain]] is needed")
    for i, c in enumerate(raw_chains):
        where = f"[[chain]] {i + 1}"
        if not isinstance(c, dict):
            raise ConfigError(f"{where}: not a table")
        _unknown(c, _CHAIN_KEYS, where)
        cid = _str(c, "id", where)
        where = f"[[chain]] {cid}"
        if cid in chains:
            raise ConfigError(f"{where}: chain id appears twice")
        api = c.get("api")
        if isinstance(api, str):
            api = [api]
        if not isinstance(api, list) or not api or not all(isinstance(u, str) and u.startswith("http") for u in api):
            raise ConfigError(f"{where}: 'api' must be a list of http(s) URLs")
        chains[cid] = ChainConfig(
            id=cid,
            api=list(api),
            key=_path(c.get("key"), base, where, "key"),
            passphrase_file=None
            if c.get("passphrase_file") is None
            else _path(c["passphrase_file"], base, where, "passphrase_file"),
            genesis=None if c.get("genesis") is None else _path(c["genesis"], base, where, "genesis"),
            max_tx_bytes=_int(c, "max_tx_bytes", MAX_TX_BYTES, 1024, MAX_TX_BYTES, where),
            max_items=_int(c, "max_items", MAX_RELAY_ITEMS, 1, MAX_RELAY_ITEMS, where),
        )
    paths: list[PathConfig] = []
    raw_paths = data.get("path", [])
    if not isinstance(raw_paths, list):
        raise ConfigError("relayer.toml: [[path]] must be an array of tables")
    for i, p in enumerate(raw_paths):
        where = f"[[path]] {i + 1}"
        if not isinstance(p, dict):
            raise ConfigError(f"{where}: not a table")
        _unknown(p, _PATH_KEYS, where)
        a, b = _str(p, "a", where), _str(p, "b", where)
        for end in (a, b):
            if end not in chains:
                raise ConfigError(f"{where}: chain {end!r} has no [[chain]] entry")
        if a == b:
            raise ConfigError(f"{where}: a and b are the same chain")
        raw_channels = p.get("channels", [])
        if not isinstance(raw_channels, list) or not raw_channels:
            raise ConfigError(f"{where}: 'channels' must list at least one {{port, a_channel, b_channel}}")
        channels = []
        for j, ch in enumerate(raw_channels):
            cw = f"{where} channel {j + 1}"
            if not isinstance(ch, dict):
                raise ConfigError(f"{cw}: not a table")
            _unknown(ch, _CHANNEL_KEYS, cw)
            channels.append(
                ChannelConfig(
                    port=_str(ch, "port", cw, _PORT),
                    a_channel=_str(ch, "a_channel", cw, _CHANNEL),
                    b_channel=_str(ch, "b_channel", cw, _CHANNEL),
                    b_port="" if ch.get("b_port") is None else _str(ch, "b_port", cw, _PORT),
                )
            )
        paths.append(
            PathConfig(
                a=a,
                b=b,
                a_client=_str(p, "a_client", where, _CLIENT),
                b_client=_str(p, "b_client", where, _CLIENT),
                a_connection=_str(p, "a_connection", where, _CONNECTION),
                b_connection=_str(p, "b_connection", where, _CONNECTION),
                channels=channels,
            )
        )
    rel = data.get("relayer", {})
    if not isinstance(rel, dict):
        raise ConfigError("[relayer] must be a table")
    _unknown(rel, {"scan_interval_s", "shard"}, "[relayer]")
    scan = rel.get("scan_interval_s", 30)
    if not isinstance(scan, int | float) or isinstance(scan, bool) or not 0.05 <= scan <= 86_400:
        raise ConfigError("[relayer] scan_interval_s must be a number of seconds in 0.05..86400")
    shard = parse_shard(rel["shard"]) if "shard" in rel else (0, 1)
    metrics = data.get("metrics", {})
    if not isinstance(metrics, dict):
        raise ConfigError("[metrics] must be a table")
    _unknown(metrics, {"listen"}, "[metrics]")
    listen = None if metrics.get("listen") in (None, "") else parse_listen(str(metrics["listen"]))
    return RelayerConfig(chains=chains, paths=paths, metrics_listen=listen, scan_interval_s=float(scan), shard=shard)


def load_config(path: Path) -> RelayerConfig:
    """Read and parse ``relayer.toml`` at ``path`` (relative paths inside are relative to its folder).

    Raises:
        ConfigError: unreadable, not TOML, or not a valid configuration.
    """
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not TOML: {exc}") from None
    cfg = parse_config(data, path.resolve().parent)
    return RelayerConfig(
        chains=cfg.chains,
        paths=cfg.paths,
        metrics_listen=cfg.metrics_listen,
        scan_interval_s=cfg.scan_interval_s,
        shard=cfg.shard,
        source=path,
    )


def render_config(cfg: RelayerConfig) -> str:
    """``cfg`` as TOML text (what ``trellis net up --chains`` writes; ``load_config`` reads it back)."""

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["[relayer]", f"scan_interval_s = {cfg.scan_interval_s:g}", f'shard = "{cfg.shard[0]}/{cfg.shard[1]}"', ""]
    for c in cfg.chains.values():
        lines += [
            "[[chain]]",
            f"id = {q(c.id)}",
            "api = [" + ", ".join(q(u) for u in c.api) + "]",
            f"key = {q(str(c.key))}",
        ]
        if c.passphrase_file is not None:
            lines.append(f"passphrase_file = {q(str(c.passphrase_file))}")
        if c.genesis is not None:
            lines.append(f"genesis = {q(str(c.genesis))}")
        if c.max_tx_bytes != MAX_TX_BYTES:
            lines.append(f"max_tx_bytes = {c.max_tx_bytes}")
        if c.max_items != MAX_RELAY_ITEMS:
            lines.append(f"max_items = {c.max_items}")
        lines.append("")
    for p in cfg.paths:
        lines += [
            "[[path]]",
            f"a = {q(p.a)}",
            f"b = {q(p.b)}",
            f"a_client = {q(p.a_client)}",
            f"b_client = {q(p.b_client)}",
            f"a_connection = {q(p.a_connection)}",
            f"b_connection = {q(p.b_connection)}",
            "channels = ["
            + ", ".join(
                "{port = "
                + q(ch.port)
                + ", a_channel = "
                + q(ch.a_channel)
                + ", b_channel = "
                + q(ch.b_channel)
                + (", b_port = " + q(ch.b_port) if ch.b_port else "")
                + "}"
                for ch in p.channels
            )
            + "]",
            "",
        ]
    if cfg.metrics_listen is not None:
        host, port = cfg.metrics_listen
        lines += ["[metrics]", f"listen = {q(f'{host}:{port}')}", ""]
    return "\n".join(lines)

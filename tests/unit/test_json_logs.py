"""``[log]``: JSON lines with the documented fields, levels per logger, and the redaction of keys, seeds and
secrets in both formats (trellis.node.logging_setup)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from trellis.node.config import ConfigError, LogSection, NodeConfig, load_config, render_config
from trellis.node.logging_setup import REDACTED, configure_logging, is_secret_field, redact_text

SEED = "9f" * 32
TX_HASH = "3c" * 32
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NAMED = ("trellis.consensus", "trellis.node", "trellis.test")


@pytest.fixture
def configure() -> Iterator[Any]:
    """``configure(section, level=None)`` -> the stream the log goes to; the root logger restored afterwards."""
    root = logging.getLogger()
    saved = root.level
    handlers: list[logging.Handler] = []

    def setup(section: LogSection, level: str | None = None) -> io.StringIO:
        stream = io.StringIO()
        handlers.append(configure_logging(section, level=level, stream=stream))
        return stream

    yield setup
    for h in handlers:
        root.removeHandler(h)
    root.setLevel(saved)
    for name in NAMED:
        logging.getLogger(name).setLevel(logging.NOTSET)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_documented_fields(configure: Any) -> None:
    stream = configure(LogSection(format="json"))
    log = logging.getLogger("trellis.test")
    log.info("committed block height=%d", 7, extra={"height": 7, "block_id": b"\x01\xff", "peers": ["a", "b"]})
    try:
        raise ValueError("the disk is full")
    except ValueError:
        log.exception("cannot store")
    first, second = lines(stream)
    assert set(first) == {"ts", "level", "logger", "msg", "height", "block_id", "peers"}
    assert RFC3339_UTC.match(first["ts"]), first["ts"]
    assert first["level"] == "info" and first["logger"] == "trellis.test"
    assert first["msg"] == "committed block height=7"
    assert (first["height"], first["block_id"], first["peers"]) == (7, "01ff", ["a", "b"])
    assert second["level"] == "error" and second["msg"] == "cannot store"
    assert "Traceback" in second["exc"] and "ValueError: the disk is full" in second["exc"]


def test_an_extra_named_like_a_reserved_field_does_not_replace_it(configure: Any) -> None:
    stream = configure(LogSection(format="json"))
    logging.getLogger("trellis.test").warning("real", extra={"ts": "fake", "level": "fake"})
    (line,) = lines(stream)
    assert line["level"] == "warning" and line["x_ts"] == "fake" and line["x_level"] == "fake"
    assert RFC3339_UTC.match(line["ts"])


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_keys_seeds_and_secrets_are_never_logged(configure: Any, fmt: str) -> None:
    stream = configure(LogSection(format=fmt))  # type: ignore[arg-type]
    log = logging.getLogger("trellis.test")
    log.info("opened validator with seed=%s for tx %s", SEED, TX_HASH)
    log.info("the secret is %s", "hunter2-hunter2")
    log.info("key file", extra={"private_key": SEED, "validator_seed": SEED, "public_key": TX_HASH})
    log.info("pem %s", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----")
    try:
        raise RuntimeError(f"bad seed: {SEED}")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    assert SEED not in text
    assert "hunter2" not in text
    assert "MC4CAQAwBQYDK2VwBCIEI" not in text
    assert text.count(REDACTED) >= 4
    assert TX_HASH in text  # a hash not named as a secret is logged
    if fmt == "json":
        records = lines(stream)
        assert records[2]["private_key"] == REDACTED and records[2]["validator_seed"] == REDACTED
        assert records[2]["public_key"] == TX_HASH
        assert records[0]["msg"] == f"opened validator with seed={REDACTED} for tx {TX_HASH}"


def test_the_redaction_rule() -> None:
    assert redact_text(f"seed {SEED}") == f"seed {REDACTED}"
    assert redact_text(f"Secret: '{SEED}', next") == f"Secret: {REDACTED}, next"
    assert redact_text(f"private_key={SEED}") == f"private_key={REDACTED}"
    assert redact_text("password is swordfish") == f"password is {REDACTED}"
    assert redact_text(f"block {TX_HASH} committed") == f"block {TX_HASH} committed"
    assert is_secret_field("api_token") and is_secret_field("KEY") and is_secret_field("seed_hex")
    assert not is_secret_field("public_key") and not is_secret_field("key_id") and not is_secret_field("height")


def test_the_forms_a_secret_is_written_in() -> None:
    # a quote after the keyword (a dict's repr, JSON), and the whole of a quoted value
    assert redact_text("{'seed': 'deadbeefcafe'}") == f"{{'seed': {REDACTED}}}"
    assert redact_text('{"private_key": "0x' + SEED + '"}') == f'{{"private_key": {REDACTED}}}'
    assert redact_text('secret: "correct horse battery staple"') == f"secret: {REDACTED}"
    assert (
        redact_text("cfg {'password': 'it\\'s a \"x\"', 'height': 7}") == f"cfg {{'password': {REDACTED}, 'height': 7}}"
    )
    # every keyword, the separator kept
    assert redact_text("password=abc") == f"password={REDACTED}"
    assert redact_text("token=abc123 rest") == f"token={REDACTED} rest"
    assert redact_text("API-Key: zz9, next") == f"API-Key: {REDACTED}, next"
    assert redact_text("validator_seed_hex=ff00 loaded") == f"validator_seed_hex={REDACTED} loaded"
    assert redact_text("{'seed': b'ab cd'}") == f"{{'seed': {REDACTED}}}"
    # a mnemonic or passphrase is several words: the rest of the line (up to a , or }) goes
    assert redact_text("mnemonic: abandon ability able about, next") == f"mnemonic: {REDACTED}, next"
    assert redact_text("seed phrase is abandon ability able\nnext line") == f"seed phrase is {REDACTED}\nnext line"
    # ordinary words are not secrets
    assert redact_text("the seed isn't loaded") == "the seed isn't loaded"
    assert redact_text("secretary: bob; token bucket refilled") == "secretary: bob; token bucket refilled"
    for line in ("validator key: 'k1' in PKCS#11 token 'tok1' (p11.so)", "closing the session on token 'tok1': boom"):
        assert redact_text(line) == line  # trellis's own log lines naming a PKCS#11 token (not a secret)


_KEYWORDS = st.sampled_from(
    [
        *("seed", "secret", "private_key", "private key", "privateKey", "password", "passphrase", "mnemonic"),
        *("token", "api_key", "api-key", "apikey", "SEED", "Secret", "PASSWORD", "Token", "node_private_key"),
        "seed_hex",
    ]
)
_BARE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters=",}'\"\\"),
    min_size=1,
    max_size=40,
)
_ANY = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
_WORDS = st.lists(st.from_regex(r"[a-z]{3,8}", fullmatch=True), min_size=2, max_size=12).map(" ".join)


def _quoted_shapes(key: str, secret: str) -> list[tuple[str, str]]:
    """(text holding ``secret``, the same text redacted) for the quoted shapes."""
    return [
        (repr({key: secret, "height": 7}), f"{{{key!r}: {REDACTED}, 'height': 7}}"),
        (repr({key: secret.encode()}), f"{{{key!r}: {REDACTED}}}"),
        (json.dumps({key: secret, "n": 1}), f'{{"{key}": {REDACTED}, "n": 1}}'),
        (json.dumps({key: secret}, ensure_ascii=False, separators=(",", ":")), f'{{"{key}":{REDACTED}}}'),
        (f"{key}={json.dumps(secret)} done", f"{key}={REDACTED} done"),
        (f"{key}: {secret!r} done", f"{key}: {REDACTED} done"),
    ]


@given(_KEYWORDS, st.one_of(_ANY, _WORDS))
def test_a_quoted_secret_never_appears(key: str, secret: str) -> None:
    for text, redacted in _quoted_shapes(key, secret):
        assume(secret not in redacted)
        out = redact_text(f"loaded {text}")
        assert out == f"loaded {redacted}", (text, out)
        assert secret not in out


@given(_KEYWORDS, _BARE, st.sampled_from(["=", ": ", " = ", ":"]))
def test_a_bare_secret_never_appears(key: str, secret: str, sep: str) -> None:
    assume(not secret[0].isspace())
    several_words = key.lower() in ("passphrase", "mnemonic")  # a bare one runs to the next , or }
    redacted = f"open {key}{sep}{REDACTED}{'' if several_words else ' now'}, then {{x}}"
    assume(secret not in redacted)
    out = redact_text(f"open {key}{sep}{secret} now, then {{x}}")
    if not secret.startswith(("b'", 'b"', "r'", 'r"', "u'", 'u"')):
        assert out == redacted, out
    assert secret not in out


@given(
    _WORDS,
    st.sampled_from(["mnemonic", "passphrase", "seed phrase", "Mnemonic"]),
    st.sampled_from([": ", "=", " is ", " "]),
)
def test_a_bare_mnemonic_never_appears(words: str, key: str, sep: str) -> None:
    out = redact_text(f"restore {key}{sep}{words}")
    assert out == f"restore {key}{sep}{REDACTED}"
    assert not any(w in out.split() for w in words.split() if w not in ("restore", "is"))


_HEX = st.binary(min_size=1, max_size=32).map(bytes.hex)


@given(
    _HEX,
    st.sampled_from(
        [
            "block 0x{} committed",
            "tx {} height=7",
            "public_key=0x{}",
            "pubkey: {}",
            "{{'public_key': '{}', 'key_id': 'k1'}}",
            '{{"pubkey": "{}", "hash": "ab"}}',
            "validator {} proposed; key_id={}",
            "peer {} connected, tokens remaining: 5",
            "app hash {} (seed of nothing)",
        ]
    ),
)
def test_hashes_and_public_keys_are_not_redacted(hexstr: str, template: str) -> None:
    text = template.format(hexstr, hexstr)
    assert redact_text(text) == text


def test_levels_per_logger_and_the_command_line_override(configure: Any) -> None:
    stream = configure(LogSection(format="json", level="warning", levels={"trellis.consensus": "debug"}))
    logging.getLogger("trellis.consensus").debug("step")
    logging.getLogger("trellis.node").info("hidden")
    logging.getLogger("trellis.node").warning("shown")
    assert [(r["logger"], r["msg"]) for r in lines(stream)] == [
        ("trellis.consensus", "step"),
        ("trellis.node", "shown"),
    ]
    stream = configure(LogSection(format="json", level="warning"), level="info")  # replaces the previous handler
    logging.getLogger("trellis.node").info("now shown")
    assert [r["msg"] for r in lines(stream)] == ["now shown"]
    assert sum(1 for h in logging.getLogger().handlers if getattr(h, "_trellis_node_log", False)) == 1


def test_the_text_format_is_the_former_line(configure: Any) -> None:
    stream = configure(LogSection())
    logging.getLogger("trellis.node").info("hello %s", "world")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO trellis.node: hello world\n", stream.getvalue())


def test_log_section_in_config_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[log]\nformat = "json"\nlevel = "debug"\nlevels = { "trellis.consensus" = "warning" }\n')
    cfg = load_config(path)
    assert cfg.log == LogSection(format="json", level="debug", levels={"trellis.consensus": "warning"})
    path.write_text(render_config(cfg))
    assert load_config(path) == cfg
    assert "[log]" not in render_config(NodeConfig())  # the default is not written out
    for bad, field in [
        ('format = "xml"', "$.log.format"),
        ('level = "loud"', "$.log.level"),
        ('levels = { "bad name!" = "info" }', "$.log.levels"),
        ('levels = { "trellis" = "verbose" }', "$.log.levels"),
        ('colour = "red"', "colour"),
    ]:
        path.write_text(f"[log]\n{bad}\n")
        with pytest.raises(ConfigError, match=re.escape(field)):
            load_config(path)

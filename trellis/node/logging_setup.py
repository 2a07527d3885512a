"""The node's log (``[log]`` in ``config.toml``): text or JSON lines on stderr, levels per logger, and a redaction
filter that keeps private keys, seeds and secrets out of every line.

JSON lines: one object per record with ``ts`` (RFC 3339, UTC, milliseconds, ``Z``), ``level`` (lower case),
``logger``, ``msg`` (the formatted message), then the record's extra fields (``log.info("...", extra={...})``;
bytes as hex, anything else JSON cannot hold as its ``str``; a field named like a reserved one gets an ``x_``
prefix), and ``exc`` (the formatted traceback) when the record carries an exception.

Redaction (``redact_record``, applied to both formats before formatting; docs/ops/metrics.md):

- an extra field whose name, lower-cased, contains ``key``, ``seed``, ``secret``, ``password``, ``passphrase``,
  ``mnemonic`` or ``token`` — except public ones (names starting with ``public`` or ``pub_``, or equal to
  ``pubkey``, ``key_id``, ``key_name``) — has its value replaced by ``[redacted]``;
- in the message, in string extra values and in exception text, the value after a secret-naming word is replaced
  by ``[redacted]`` (the word and the separator are kept):

  - ``seed``, ``secret``, ``private key``/``private_key``/``privkey``, ``password``, ``passphrase``, ``mnemonic``,
    ``token``, ``api key``/``api_key``/``api-key`` (any case; a suffix such as ``_hex`` allowed; ``key`` alone,
    ``public_key`` or ``pubkey`` is not one), optionally closed by a quote (``{'seed': ...}``, ``{"token": ...}``),
    then ``=`` or ``:``: the whole value, a quoted string (single or double, with escapes, ``b'...'`` too; an
    unterminated one to the end of the text) or a bare run up to whitespace, ``,`` or ``}``;
  - ``seed``, ``secret``, the private key words, ``password`` or ``passphrase`` then a space or ``is``: a quoted
    value, or a bare one of 4 characters at least (``the seed isn't loaded`` stays);
  - after ``mnemonic``, ``passphrase`` or ``seed phrase`` (several words): a bare value runs to the end of the line
    or the next ``,`` or ``}``;

  and a PEM ``PRIVATE KEY`` block is replaced whole.

Hashes, addresses and public keys (64 hex digits too) are not redacted unless they follow one of those words.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import sys
from typing import Any, TextIO

from trellis.node.config import LogSection

REDACTED = "[redacted]"

_SECRET_FIELD = re.compile(r"key|seed|secret|password|passphrase|mnemonic|token", re.IGNORECASE)
_PUBLIC_FIELD = re.compile(r"^(public.*|pub_.*|pubkey|key_id|key_name)$", re.IGNORECASE)
# A quoted value (b'...' too), with escapes; an unterminated one runs to the end of the text.
_QUOTED = r"[bBrRuU]{0,2}(?:\"(?:[^\"\\]|\\.)*(?:\"|\Z)|'(?:[^'\\]|\\.)*(?:'|\Z))"
_SECRET_AFTER_WORD = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    # a passphrase or mnemonic is several words: a bare one runs to the end of the line (or a , or })
    r"(?P<pword>mnemonic|passphrase|seed[ _-]?phrase)"
    r"(?P<psep>s?[\"']?\s*(?:[:=]|\bis\b)\s*|\s+)"
    rf"(?P<pvalue>{_QUOTED}|[^\s,}}\"'][^\n,}}]*)"
    # keyword=value, keyword: value, 'keyword': value, "keyword": value (a suffix such as _hex allowed)
    r"|(?P<word>seed|secret|private[ _-]?key|privkey|password|passphrase|mnemonic|token|api[ _-]?key)"
    r"(?P<sep>s?(?:[_-][A-Za-z0-9]+)*[\"']?\s*[:=]\s*)"
    rf"(?P<value>{_QUOTED}|[^\s,}}]+)"
    # the word, then a space or "is": a quoted value, or a bare one of 4 characters at least
    r"|(?P<wword>seed|secret|private[ _-]?key|privkey|password|passphrase)"
    r"(?P<wsep>s?(?:\s*\bis\b\s*|\s+))"
    rf"(?P<wvalue>{_QUOTED}|[\"']?[^\s\"',;]{{4,}}[\"']?)"
    r")",
    re.IGNORECASE,
)
_PEM_PRIVATE = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.DOTALL
)
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_RESERVED = frozenset({"ts", "level", "logger", "msg", "exc"})
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact_text(text: str) -> str:
    """``text`` with PEM private keys and the value after a secret-naming word replaced by ``[redacted]``."""
    text = _PEM_PRIVATE.sub(REDACTED, text)
    return _SECRET_AFTER_WORD.sub(_redact_value, text)


def _redact_value(m: re.Match[str]) -> str:
    """The match with its value (whichever branch matched) replaced: the word and separator are kept."""
    for group in ("pvalue", "value", "wvalue"):
        if m.group(group) is not None:
            return m.string[m.start() : m.start(group)] + REDACTED
    raise AssertionError("a match without a value")  # pragma: no cover - every branch has one


def is_secret_field(name: str) -> bool:
    """Whether an extra field named ``name`` holds a secret (its value is never logged)."""
    return bool(_SECRET_FIELD.search(name)) and not _PUBLIC_FIELD.match(name)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call added with ``extra=``."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class RedactingFilter(logging.Filter):
    """Redacts a record in place (message, extra fields) before any handler formats it; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: its message is formatted once (``args`` cleared), secret extras replaced."""
    if getattr(record, "_trellis_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: log what was given rather than lose the record
        message = f"{record.msg!r} % {record.args!r}"
    record.msg = redact_text(message)
    record.args = None
    for name, value in extra_fields(record).items():
        if is_secret_field(name):
            setattr(record, name, REDACTED)
        elif isinstance(value, str):
            setattr(record, name, redact_text(value))
    record._trellis_redacted = True


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return redact_text(str(value))


def rfc3339_utc(created: float) -> str:
    """A record's time as RFC 3339 in UTC with milliseconds: ``2026-12-08T01:02:03.456Z``."""
    t = _dt.datetime.fromtimestamp(created, _dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)  # also when used without the filter
        out: dict[str, Any] = {
            "ts": rfc3339_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            out[f"x_{name}" if name in _RESERVED else name] = _json_value(value)
        if record.exc_info:
            out["exc"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc"] = redact_text(record.exc_text)
        if record.stack_info:
            out["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """The human-readable line (``time LEVEL logger: message``, then any traceback), redacted."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)  # also when used without the filter
        return redact_text(super().format(record))  # the traceback too, even one another handler cached


def _level(name: str) -> int:
    return int(logging.getLevelName(name.upper()))


def configure_logging(
    section: LogSection, *, level: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Install the node's log handler on the root logger (replacing one this function installed before) and set
    the levels: ``level`` (the command line's ``--log-level``) overrides ``section.level``; ``section.levels``
    sets named loggers. Returns the handler (a test removes it with ``logging.getLogger().removeHandler``)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_trellis_node_log", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if section.format == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler._trellis_node_log = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(_level(level if level is not None else section.level))
    for name, lvl in section.levels.items():
        logging.getLogger(name).setLevel(_level(lvl))
    return handler


__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "configure_logging",
    "extra_fields",
    "is_secret_field",
    "redact_record",
    "redact_text",
    "rfc3339_utc",
]

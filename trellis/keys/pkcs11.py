"""A ``Signer`` whose Ed25519 key lives in a hardware security module, reached through PKCS#11.

The private key is generated inside the token (``CKK_EC_EDWARDS``, sensitive, not extractable) and never
leaves it: signing is ``C_Sign`` with ``CKM_EDDSA`` (pure Ed25519, the message hashed inside the token as
Ed25519 requires). Tested against SoftHSM2 (Debian ``softhsm2``); any PKCS#11 v3 module with Ed25519 works.

``python-pkcs11`` is imported lazily, when an HSM is first used: a node configured with a key file never
needs it. Every PKCS#11 failure is translated into :class:`HsmError` with a message naming the module,
token or key concerned; the PIN never appears in a message, a log line or a ``repr``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trellis.core.crypto.suite import ED25519
from trellis.keys.signer import KeyStoreError

if TYPE_CHECKING:
    import pkcs11

log = logging.getLogger("trellis.keys.pkcs11")

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
"""Where Debian's ``softhsm2`` package puts its PKCS#11 module."""

ED25519_EC_PARAMS = bytes.fromhex("06032b6570")
"""``CKA_EC_PARAMS`` of an Ed25519 key: the DER object identifier 1.3.101.112 (RFC 8410)."""

_MAX_PIN_FILE_BYTES = 4096
_MAX_LABEL_CHARS = 32  # CK_TOKEN_INFO.label is 32 bytes; key labels are kept to the same bound


class HsmError(KeyStoreError):
    """A PKCS#11 module, token or key that cannot be used (the message says which, and why)."""

    code = "hsm_error"


# PKCS#11 allows one C_Initialize per module per process, so each module is loaded once and shared.
_modules: dict[str, Any] = {}
_modules_lock = threading.Lock()


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise HsmError("the HSM signer needs the python-pkcs11 package: pip install python-pkcs11") from exc
    return pkcs11


def load_module(path: str) -> Any:
    """Load (once per process) the PKCS#11 module at ``path`` and return it.

    Raises:
        HsmError: the file is missing or is not a PKCS#11 module, or python-pkcs11 is not installed.
    """
    p11 = _pkcs11()
    key = os.path.realpath(path)
    with _modules_lock:
        lib = _modules.get(key)
        if lib is None:
            if not os.path.isfile(key):
                raise HsmError(f"no PKCS#11 module at {path} (for SoftHSM2: apt-get install softhsm2)")
            try:
                lib = p11.lib(key)
            except p11.PKCS11Error as exc:
                raise HsmError(f"cannot load PKCS#11 module {path}: {_describe(exc)}") from exc
            _modules[key] = lib
        return lib


def read_pin_file(path: Path) -> str:
    """The token PIN kept in the file at ``path`` (one line; a trailing newline is ignored).

    Raises:
        HsmError: the file cannot be read, is empty or too large. The PIN itself is never quoted.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_PIN_FILE_BYTES + 1)
    except OSError as exc:
        raise HsmError(f"cannot read PIN file {path}: {exc.strerror}") from None
    if len(raw) > _MAX_PIN_FILE_BYTES:
        raise HsmError(f"PIN file {path} is larger than {_MAX_PIN_FILE_BYTES} bytes")
    try:
        pin = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise HsmError(f"PIN file {path} is not UTF-8 text") from None
    if not pin:
        raise HsmError(f"PIN file {path} is empty")
    return pin


def _describe(exc: BaseException) -> str:
    """A PKCS#11 exception as text: its class name (the CKR_ code) and its message, if any."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_label(what: str, label: str) -> None:
    if not label or len(label) > _MAX_LABEL_CHARS:
        raise HsmError(f"the {what} label must have 1-{_MAX_LABEL_CHARS} characters, not {len(label)}")


def _open_session(module: str, token_label: str, pin: str, *, rw: bool) -> pkcs11.Session:
    """A session on token ``token_label`` logged in as the user; errors translated."""
    p11 = _pkcs11()
    lib = load_module(module)
    _check_label("token", token_label)
    try:
        token = lib.get_token(token_label=token_label)
    except p11.NoSuchToken:
        labels = sorted({t.label for t in lib.get_tokens() if t.label})
        known = ", ".join(repr(x) for x in labels) or "none"
        raise HsmError(f"no token labelled {token_label!r} in PKCS#11 module {module} (tokens: {known})") from None
    except p11.MultipleTokensReturned:
        raise HsmError(f"several tokens are labelled {token_label!r} in PKCS#11 module {module}") from None
    except p11.PKCS11Error as exc:
        raise HsmError(f"cannot list the tokens of PKCS#11 module {module}: {_describe(exc)}") from exc
    try:
        return token.open(rw=rw, user_pin=pin)
    except p11.PinIncorrect:
        raise HsmError(f"wrong PIN for token {token_label!r}") from None
    except p11.PinLocked:
        raise HsmError(f"the user PIN of token {token_label!r} is locked (too many wrong tries)") from None
    except (p11.PinExpired, p11.UserPinNotInitialized):
        raise HsmError(f"token {token_label!r} has no usable user PIN: set one with the token's tools") from None
    except (p11.PinInvalid, p11.PinLenRange):
        raise HsmError(f"the PIN given for token {token_label!r} is malformed (length or characters)") from None
    except p11.UserAlreadyLoggedIn:
        # Login is per token and per process: another session of this process has logged in already, and
        # new sessions share that login (PKCS#11 section 5.5).
        try:
            return token.open(rw=rw)
        except p11.PKCS11Error as exc:
            raise HsmError(f"cannot open a session on token {token_label!r}: {_describe(exc)}") from exc
    except p11.PKCS11Error as exc:
        raise HsmError(f"cannot open a session on token {token_label!r}: {_describe(exc)}") from exc


def _raw_public_key(ec_point: bytes, key_label: str) -> bytes:
    """The 32 raw bytes of an Ed25519 ``CKA_EC_POINT``: a DER OCTET STRING (04 20 || key), or, from some
    modules, the raw key itself."""
    if len(ec_point) == 34 and ec_point[:2] == b"\x04\x20":
        return ec_point[2:]
    if len(ec_point) == 32:
        return ec_point
    raise HsmError(f"key {key_label!r}: CKA_EC_POINT is not an Ed25519 public key ({len(ec_point)} bytes)")


def generate_ed25519_key(module: str, token_label: str, key_label: str, pin: str) -> bytes:
    """Generate an Ed25519 key pair inside the token, labelled ``key_label``, and return its raw public key.

    The private key is a token object, private, sensitive and not extractable; it can only sign.

    Raises:
        HsmError: module, token or PIN unusable; a key with that label exists already; the token cannot
            make Ed25519 keys.
    """
    p11 = _pkcs11()
    _check_label("key", key_label)
    session = _open_session(module, token_label, pin, rw=True)
    try:
        existing = list(session.get_objects({p11.Attribute.LABEL: key_label}))
        if existing:
            raise HsmError(f"token {token_label!r} already holds an object labelled {key_label!r}")
        key_id = os.urandom(16)
        attr = p11.Attribute
        try:
            public, _ = session.generate_keypair(
                p11.KeyType.EC_EDWARDS,
                mechanism=p11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                store=True,
                label=key_label,
                id=key_id,
                public_template={attr.EC_PARAMS: ED25519_EC_PARAMS, attr.VERIFY: True, attr.TOKEN: True},
                private_template={
                    attr.SENSITIVE: True,
                    attr.EXTRACTABLE: False,
                    attr.PRIVATE: True,
                    attr.TOKEN: True,
                    attr.SIGN: True,
                    attr.DECRYPT: False,
                    attr.DERIVE: False,
                    attr.UNWRAP: False,
                },
            )
        except (p11.MechanismInvalid, p11.DomainParamsInvalid, p11.FunctionNotSupported) as exc:
            raise HsmError(f"token {token_label!r} cannot generate Ed25519 keys: {_describe(exc)}") from exc
        except p11.PKCS11Error as exc:
            raise HsmError(f"generating key {key_label!r} in token {token_label!r} failed: {_describe(exc)}") from exc
        return _raw_public_key(bytes(public[attr.EC_POINT]), key_label)
    finally:
        session.close()


class Pkcs11Signer:
    """An Ed25519 ``Signer`` whose private key stays in a PKCS#11 token.

    One session is opened at construction and shared by every call, guarded by a lock (a PKCS#11 session
    must not be used by two threads at once). On opening, the key is checked: it must be an Ed25519 private
    key, and a test signature must verify under its public key.
    """

    def __init__(self, module: str, token_label: str, key_label: str, pin: str) -> None:
        """Open ``key_label`` in token ``token_label`` of the PKCS#11 module at ``module``.

        Raises:
            HsmError: module, token, PIN or key unusable (the message says which).
        """
        p11 = _pkcs11()
        _check_label("key", key_label)
        self.module = module
        self.token_label = token_label
        self.key_label = key_label
        self._lock = threading.Lock()
        self._mechanism = p11.Mechanism.EDDSA
        self._session = _open_session(module, token_label, pin, rw=False)
        try:
            self._private = self._find(p11.ObjectClass.PRIVATE_KEY)
            public = self._find(p11.ObjectClass.PUBLIC_KEY)
            self._public = _raw_public_key(bytes(public[p11.Attribute.EC_POINT]), key_label)
            if self._private[p11.Attribute.EXTRACTABLE] or not self._private[p11.Attribute.SENSITIVE]:
                log.warning(
                    "HSM key %r in token %r can be extracted: generate a non-extractable one", key_label, token_label
                )
            probe = b"trellis pkcs11 key check"
            if not ED25519.verify(self._public, probe, self.sign(probe)):
                raise HsmError(
                    f"key {key_label!r} in token {token_label!r}: its signatures do not verify under its public key"
                )
        except BaseException:
            self._session.close()
            raise

    @classmethod
    def from_pin_file(cls, module: str, token_label: str, key_label: str, pin_file: Path) -> Pkcs11Signer:
        """Open the key with the PIN read from ``pin_file`` (see :func:`read_pin_file`)."""
        return cls(module, token_label, key_label, read_pin_file(pin_file))

    def _find(self, object_class: Any) -> Any:
        p11 = _pkcs11()
        kind = "private" if object_class == p11.ObjectClass.PRIVATE_KEY else "public"
        try:
            return self._session.get_key(
                object_class=object_class, key_type=p11.KeyType.EC_EDWARDS, label=self.key_label
            )
        except p11.NoSuchKey:
            raise HsmError(f"no Ed25519 {kind} key labelled {self.key_label!r} in token {self.token_label!r}") from None
        except p11.MultipleObjectsReturned:
            raise HsmError(
                f"several {kind} keys are labelled {self.key_label!r} in token {self.token_label!r}"
            ) from None
        except p11.PKCS11Error as exc:
            raise HsmError(
                f"cannot look up key {self.key_label!r} in token {self.token_label!r}: {_describe(exc)}"
            ) from exc

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` inside the token; return the 64-byte Ed25519 signature.

        Raises:
            HsmError: the token refused or failed (removed, session closed, ...).
        """
        p11 = _pkcs11()
        with self._lock:
            try:
                signature = bytes(self._private.sign(message, mechanism=self._mechanism))
            except p11.PKCS11Error as exc:
                raise HsmError(
                    f"signing with key {self.key_label!r} in token {self.token_label!r} failed: {_describe(exc)}"
                ) from exc
        if len(signature) != 64:
            raise HsmError(f"token {self.token_label!r} returned a {len(signature)}-byte signature, not 64")
        return signature

    def close(self) -> None:
        """Close the session (the module stays loaded for the rest of the process)."""
        p11 = _pkcs11()
        with self._lock:
            try:
                self._session.close()
            except p11.PKCS11Error as exc:
                log.warning("closing the session on token %r: %s", self.token_label, _describe(exc))

    def __repr__(self) -> str:  # no PIN is kept, and none is shown
        return f"Pkcs11Signer(token={self.token_label!r}, key={self.key_label!r}, public_key={self._public.hex()})"

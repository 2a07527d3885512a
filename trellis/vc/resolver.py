"""Resolving a proof's ``verificationMethod`` to a public key: the ``DidResolver`` port and its adapters.

``TrellisDidResolver`` reads ``did:trellis`` documents from the chain's state (the identity module), at the
version that was current at a given block time; ``DidKeyResolver`` decodes self-certifying ``did:key`` DIDs;
``StaticResolver`` serves fixed keys (tests, and the W3C vectors' ``https://`` issuer); ``ChainResolver`` tries
several in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from trellis.core.execution.context import StateReader
from trellis.core.modules.identity.did import DidError, parse_did
from trellis.core.modules.identity.state import read_did, read_version
from trellis.vc.errors import VcError
from trellis.vc.multibase import MultibaseError, multikey_decode

__all__ = [
    "ChainResolver",
    "DidKeyResolver",
    "DidResolver",
    "ResolvedKey",
    "StaticResolver",
    "TrellisDidResolver",
    "split_vm",
]


@dataclass(frozen=True)
class ResolvedKey:
    """A verification method: its controller DID, suite (``ed25519``/``sm``), raw key and allowed purposes."""

    controller: str
    suite: str
    public_key: bytes
    purposes: frozenset[str]
    """``assertionMethod`` (may issue), ``authentication`` (may sign presentations)."""


class DidResolver(Protocol):
    """Resolves a verification method URL (``did:...#fragment``) to a key, at a block time or now."""

    def resolve_key(self, verification_method: str, at_ms: int | None = None) -> ResolvedKey:
        """The key of ``verification_method`` as it was at ``at_ms`` (None: current).

        Raises:
            VcError: ``unresolvable_key`` (no such DID or method), ``did_deactivated``.
        """
        ...


def split_vm(verification_method: str) -> tuple[str, str]:
    """Split ``did#fragment`` into (did, fragment). Raises ``VcError`` (``malformed_proof``) without a fragment."""
    did, sep, fragment = verification_method.partition("#")
    if not sep or not did or not fragment:
        raise VcError("malformed_proof", "verificationMethod must be a DID URL with a fragment (did:...#key)")
    return did, fragment


_BOTH = frozenset({"assertionMethod", "authentication"})


class DidKeyResolver:
    """``did:key:z6Mk...#z6Mk...`` (Ed25519) and SM2 Multikey ``did:key`` DIDs: the key is the DID itself."""

    def resolve_key(self, verification_method: str, at_ms: int | None = None) -> ResolvedKey:
        """Decode the key from the DID (time plays no part: a did:key never changes)."""
        did, fragment = split_vm(verification_method)
        if not did.startswith("did:key:") or did[8:] != fragment:
            raise VcError("unresolvable_key", f"{verification_method[:120]!r} is not a did:key verification method")
        try:
            suite, key = multikey_decode(fragment)
        except MultibaseError as exc:
            raise VcError("unresolvable_key", f"did:key: {exc}") from exc
        return ResolvedKey(controller=did, suite=suite, public_key=key, purposes=_BOTH)


class StaticResolver:
    """Fixed verification methods: URL -> ResolvedKey."""

    def __init__(self, keys: Mapping[str, ResolvedKey]) -> None:
        self._keys = dict(keys)

    def resolve_key(self, verification_method: str, at_ms: int | None = None) -> ResolvedKey:
        """The fixed key of ``verification_method``."""
        try:
            return self._keys[verification_method]
        except KeyError:
            raise VcError("unresolvable_key", f"unknown verification method {verification_method[:120]!r}") from None


class TrellisDidResolver:
    """``did:trellis`` documents from committed state (a ``StateReader``), as of a block time.

    ``at_ms`` selects the latest version written at or before that time, so a credential issued before a key
    rotation still verifies with the key of its time; a DID deactivated at or before ``at_ms`` resolves to
    nothing.
    """

    def __init__(self, state: StateReader, chain_id: str, suite: str) -> None:
        self._state = state
        self._chain_id = chain_id
        self._suite = suite

    def resolve_key(self, verification_method: str, at_ms: int | None = None) -> ResolvedKey:
        """Resolve ``did:trellis:<chain>:<id>#fragment`` at ``at_ms`` (None: the current version)."""
        did, fragment = split_vm(verification_method)
        try:
            did_id = parse_did(did, self._chain_id)
        except DidError as exc:
            raise VcError("unresolvable_key", f"{exc.code}: {exc}") from exc
        record = read_did(self._state, did_id)
        if record is None:
            raise VcError("unresolvable_key", f"{did} is not registered on this chain")
        version = read_version(self._state, did_id, record.version_id)
        n = record.version_id
        # Walk back to the version in force at at_ms (bounded by the DID's version count).
        while at_ms is not None and version is not None and version.time_ms > at_ms and n > 1:
            n -= 1
            version = read_version(self._state, did_id, n)
        if version is None or (at_ms is not None and version.time_ms > at_ms):
            raise VcError("unresolvable_key", f"{did} did not exist at the proof's time")
        doc = version.document
        if doc is None:
            raise VcError("did_deactivated", f"{did} is deactivated")
        for vm in doc.verification_methods:
            if vm.id == fragment:
                purposes = set()
                if fragment in doc.assertion_method:
                    purposes.add("assertionMethod")
                if fragment in doc.authentication:
                    purposes.add("authentication")
                return ResolvedKey(
                    controller=vm.controller or did,
                    suite=self._suite,
                    public_key=bytes(vm.public_key),
                    purposes=frozenset(purposes),
                )
        raise VcError("unresolvable_key", f"{did} has no verification method #{fragment}")


class ChainResolver:
    """Tries resolvers in order by DID method: ``did:trellis`` and ``did:key`` each go to their own."""

    def __init__(self, resolvers: Sequence[tuple[str, DidResolver]]) -> None:
        self._resolvers = list(resolvers)

    def resolve_key(self, verification_method: str, at_ms: int | None = None) -> ResolvedKey:
        """Resolve with the first resolver whose prefix starts ``verification_method``."""
        for prefix, resolver in self._resolvers:
            if verification_method.startswith(prefix):
                return resolver.resolve_key(verification_method, at_ms)
        raise VcError("unresolvable_key", f"no resolver for {verification_method[:120]!r}")

"""Validator-set routes (ADR 0014 section 6, docs/spec/api-json.md): the set in force at a height, and the proven
set changes a light client follows from genesis (docs/spec/light-client.md sections 6 and 8).

  GET /v1/validators?height=H                 set(H), default tip + 1, allowed 1 .. tip + 2
  GET /v1/validators/changes?to_height=H      the SetChanges for a header of height H, default tip,
                                              allowed 1 .. tip + 1

A height that is not a decimal integer (or is 0, or has more than 20 digits) is ``400 bad_height``; a height the
committed state does not decide yet is ``404 unknown_height``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from trellis.abci import UnknownHeight
from trellis.api.responses import PROBLEM_RESPONSE, ok, problem
from trellis.core.codec import encode
from trellis.core.crypto.suite import address_of
from trellis.core.ledger.block import validators_hash
from trellis.core.lightclient import SetChange
from trellis.node.node import Node

__all__ = [
    "OPENAPI_PATHS",
    "SCHEMAS",
    "SetChangeJson",
    "ValidatorChangesJson",
    "ValidatorJson",
    "ValidatorSetJson",
    "ValidatorsApi",
    "routes",
    "set_change_json",
]

_HEIGHT_TEXT = re.compile(r"[0-9]{1,20}")
_HEIGHT_PATTERN = "^[0-9]{1,20}$"


class ValidatorJson(msgspec.Struct, kw_only=True):
    """One validator of a set."""

    address: str
    """Its address, ``0x`` hex (20 bytes)."""
    public_key: str
    """Its consensus public key, ``0x`` hex."""
    power: int
    """Its voting power."""
    name: str
    """Its name."""
    org: str
    """The member organisation owning it; ``""`` for a genesis validator without one."""


class ValidatorSetJson(msgspec.Struct, kw_only=True):
    """``GET /v1/validators``: ``set(height)``."""

    height: int
    """The height asked about."""
    effective_height: int
    """The first height this set signs (1 for the genesis set)."""
    validators_hash: str
    """Hash of the set (a header's ``validators_hash`` / ``next_validators_hash``), ``0x`` hex."""
    total_power: int
    """Sum of the validators' power; a commit needs more than 2/3 of it."""
    validators: list[ValidatorJson]
    """The validators in set order (ascending address)."""


class SetChangeJson(msgspec.Struct, kw_only=True):
    """One proven set change: each member ``0x`` hex of the canonical encoding of the ``SetChange`` member."""

    effective_height: int
    """The first height the new set signs (``header.height + 1``)."""
    header: str
    """The header of ``effective_height - 1`` (canonical ``Header``)."""
    commit: str
    """Its commit certificate (canonical ``Commit``)."""
    next_validators: str
    """``set(effective_height)`` (canonical ``ValidatorSet``; its hash is the header's ``next_validators_hash``)."""


class ValidatorChangesJson(msgspec.Struct, kw_only=True):
    """``GET /v1/validators/changes``: the set changes a header of ``to_height`` is verified through."""

    to_height: int
    """The height asked about."""
    changes: list[SetChangeJson]
    """One per set effective at ``3 <= e <= to_height``, ascending."""


def set_change_json(change: SetChange) -> SetChangeJson:
    """A ``SetChange`` as JSON (canonical encodings in ``0x`` hex)."""
    return SetChangeJson(
        effective_height=change.header.height + 1,
        header="0x" + encode(change.header).hex(),
        commit="0x" + encode(change.commit).hex(),
        next_validators="0x" + encode(change.next_validators).hex(),
    )


def _height_param(request: web.Request, name: str, default: int) -> int | web.Response:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _HEIGHT_TEXT.fullmatch(raw) or int(raw) == 0:
        return problem(400, "bad_height", f"{name} must be a height: a decimal integer of at least 1, got {raw!r}")
    return int(raw)


class ValidatorsApi:
    """The validator-set handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def validators(self, request: web.Request) -> web.Response:
        """GET /v1/validators?height=H."""
        tip = self.node.app.info().height
        height = _height_param(request, "height", tip + 1)
        if isinstance(height, web.Response):
            return height
        try:
            effective, vs, orgs = self.node.app.validator_entry(height)
        except UnknownHeight as exc:
            return problem(404, "unknown_height", exc.reason)
        suite = self.node.app.suite
        return ok(
            ValidatorSetJson(
                height=height,
                effective_height=effective,
                validators_hash="0x" + validators_hash(suite, vs).hex(),
                total_power=sum(v.power for v in vs.validators),
                validators=[
                    ValidatorJson(
                        address="0x" + address_of(suite, v.public_key).hex(),
                        public_key="0x" + v.public_key.hex(),
                        power=v.power,
                        name=v.name,
                        org=org,
                    )
                    for v, org in zip(vs.validators, orgs, strict=True)
                ],
            )
        )

    async def changes(self, request: web.Request) -> web.Response:
        """GET /v1/validators/changes?to_height=H."""
        tip = self.node.app.info().height
        to_height = _height_param(request, "to_height", max(tip, 1))
        if isinstance(to_height, web.Response):
            return to_height
        try:
            changes = self.node.app.validator_changes(to_height)
        except UnknownHeight as exc:
            return problem(404, "unknown_height", exc.reason)
        return ok(ValidatorChangesJson(to_height=to_height, changes=[set_change_json(c) for c in changes]))


def routes(node: Node) -> list[web.RouteDef]:
    """The validator-set routes of ``node``."""
    api = ValidatorsApi(node)
    return [
        web.get("/v1/validators", api.validators),
        web.get("/v1/validators/changes", api.changes),
    ]


def _height_query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": _HEIGHT_PATTERN},
        "description": description + " (a decimal integer of at least 1; otherwise 400 bad_height)",
    }


def _json_response(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _schema_of(name)}}}


def _schema_of(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/validators": {
        "get": {
            "summary": "The validator set that signs the commit of a height (ADR 0014)",
            "parameters": [
                _height_query("height", "The height; default tip + 1, known for 1 to tip + 2 (else 404 unknown_height)")
            ],
            "responses": {
                "200": _json_response("ValidatorSetJson", "set(height), in set order"),
                "400": PROBLEM_RESPONSE,
                "404": PROBLEM_RESPONSE,
            },
        }
    },
    "/v1/validators/changes": {
        "get": {
            "summary": "The proven validator-set changes a light client follows from genesis "
            "(docs/spec/light-client.md section 6)",
            "parameters": [
                _height_query(
                    "to_height",
                    "The height of the header to verify; default tip, allowed 1 to tip + 1 (else 404 unknown_height)",
                )
            ],
            "responses": {
                "200": _json_response("ValidatorChangesJson", "One SetChange per set effective at 3..to_height"),
                "400": PROBLEM_RESPONSE,
                "404": PROBLEM_RESPONSE,
            },
        }
    },
}
"""The OpenAPI path items of the validator-set routes (their schemas: ``SCHEMAS``)."""

SCHEMAS: tuple[type, ...] = (ValidatorSetJson, ValidatorChangesJson)
"""The response types whose JSON schemas the OpenAPI document's components hold."""

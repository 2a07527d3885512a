"""Small JSON schemas of the credential types this platform knows, and the subset of JSON Schema that checks them.

A schema constrains ``credentialSubject`` (after disclosed claims are restored): ``required`` claims must be
present, and present claims must have the given JSON type (``string``, ``integer``, ``object``, ``array``),
recursively for objects. Unknown credential types pass the schema check (they are not this verifier's).
"""

from __future__ import annotations

from typing import Any

from trellis.vc.errors import VcError

__all__ = ["SCHEMAS", "check_subject"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "UniversityDegreeCredential": {
        "type": "object",
        "required": ["id", "degree"],
        "properties": {
            "id": {"type": "string"},
            "degree": {
                "type": "object",
                "required": ["type", "name"],
                "properties": {"type": {"type": "string"}, "name": {"type": "string"}},
            },
            "name": {"type": "string"},
            "dateOfBirth": {"type": "string"},
            "grade": {"type": "string"},
            "graduationYear": {"type": "integer"},
        },
    },
    "AlumniCredential": {
        "type": "object",
        "required": ["id", "alumniOf"],
        "properties": {"id": {"type": "string"}, "alumniOf": {"type": "string"}},
    },
}
"""JSON schemas of ``credentialSubject`` by credential type."""

_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "object": (dict,), "array": (list,)}


def _check(value: Any, schema: dict[str, Any], path: str) -> None:
    expected = schema.get("type")
    if expected is not None:
        ok = isinstance(value, _TYPES[expected]) and not (expected == "integer" and isinstance(value, bool))
        if not ok:
            raise VcError("schema_violation", f"{path} must be of type {expected}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                raise VcError("schema_violation", f"{path}.{name} is required")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                _check(value[name], sub, f"{path}.{name}")


def check_subject(types: list[str], subject: dict[str, Any]) -> None:
    """Check ``subject`` against the schema of every known type in ``types``. Raises ``VcError``."""
    for t in types:
        schema = SCHEMAS.get(t)
        if schema is not None:
            _check(subject, schema, "credentialSubject")

"""A small synchronous HTTP client for the node API, used by the CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class ClientError(Exception):
    """The node refused a request, or could not be reached."""

    def __init__(self, message: str, code: str = "error", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class NodeClient:
    """Calls a node's REST API."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None) -> Any:
        try:
            req = urllib.request.Request(self.base_url + path, data=body, method=method)
        except ValueError as exc:
            raise ClientError(f"{self.base_url!r} is not a node URL: {exc}", "bad_url") from None
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                prob = json.loads(raw)
                raise ClientError(prob.get("detail", str(exc)), prob.get("code", "error"), exc.code) from None
            except (ValueError, AttributeError):
                raise ClientError(f"HTTP {exc.code}: {raw[:200]!r}", "http_error", exc.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"cannot reach the node at {self.base_url}: {reason}", "unreachable") from None
        except ValueError as exc:  # a URL http.client refuses, or a reply that is not JSON
            raise ClientError(f"bad request to or reply from {self.base_url}: {exc}", "bad_request") from None

    def get(self, path: str) -> Any:
        """GET ``path``; return the decoded JSON."""
        return self._request("GET", path)

    def submit(self, raw: bytes, wait: bool, timeout: int = 10) -> Any:
        """Submit canonical transaction bytes; optionally wait for the commit."""
        q = f"?wait=commit&timeout={timeout}" if wait else ""
        return self._request("POST", "/v1/txs" + q, raw, "application/octet-stream")

    def post_json(self, path: str, body: Any) -> Any:
        """POST ``body`` as JSON to ``path``; return the decoded JSON."""
        return self._request("POST", path, json.dumps(body).encode(), "application/json")

    def get_bytes(self, path: str) -> bytes:
        """GET ``path``; return the raw body."""
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError:
            return self._request("GET", path)  # type: ignore[no-any-return]  # raises ClientError with the problem
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"cannot reach the node at {self.base_url}: {reason}", "unreachable") from None

"""``S3BlobStore``: the ``BlobStore`` port on any S3-compatible object service (AWS S3, SeaweedFS, MinIO, Ceph
RGW, ...).

Each blob is one object ``PREFIX<64 hex digits>`` in one bucket. S3 writes an object whole or not at all, so a
failed upload leaves nothing partial. Credentials come from boto3's standard chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` in the environment, or the shared credentials file); they are
never read from ``config.toml``, never logged and never put in an error message. botocore errors are translated
here into ``BlobStoreError`` / ``BlobNotFound``.

Retries: every request is idempotent (a blob's key is its content's hash, so putting it again writes the same
bytes), and a request that fails *transiently* is retried here, up to ``attempts`` tries in all, sleeping an
exponentially growing, jittered delay between tries (``backoff_s`` doubling up to ``max_backoff_s``).
Transient: no connection, a connection reset or closed mid-request, a connect or read timeout, a response body
cut short or failing its checksum, and answers 500, 502, 503 and 504 or the codes ``InternalError``,
``ServiceUnavailable``, ``SlowDown``, ``RequestTimeout`` and throttling. Everything else (a missing bucket, a
refused credential, a TLS certificate that does not verify, a malformed request) fails at once. botocore's
own retries are turned off in the client built here, so ``attempts`` is the whole budget. Once the budget is
spent the store raises ``BlobStoreError`` naming the operation, the blob, the bucket, the last error and the
number of tries: a write that does not raise is stored; one that raises may or may not be (the file layer
writes the manifest only after every chunk, and removes what an aborted file added).

boto3 is imported when a store is built, so nodes that use the local store do not pay for importing it.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from trellis.blobs.store import KEY_BYTES, BlobNotFound, BlobStoreError, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("trellis.blobs.s3")

T = TypeVar("T")

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_TRANSIENT_STATUS = {500, 502, 503, 504}
_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
DEFAULT_ATTEMPTS = 8
DEFAULT_BACKOFF_S = 0.25
DEFAULT_MAX_BACKOFF_S = 4.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 30.0


def _error_code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _http_status(exc: Exception) -> int | None:
    response: Any = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def is_transient(exc: Exception) -> bool:
    """True iff ``exc`` (a botocore error) is worth retrying: see the module docstring."""
    from botocore.exceptions import (
        ChecksumError,
        ClientError,
        ConnectionError,
        FlexibleChecksumError,
        HTTPClientError,
        IncompleteReadError,
        SSLError,
    )

    if isinstance(exc, ClientError):
        return _http_status(exc) in _TRANSIENT_STATUS or _error_code(exc) in _TRANSIENT_CODES
    if isinstance(exc, SSLError):
        return False  # a certificate that does not verify will not verify next time either
    return isinstance(
        exc, ConnectionError | HTTPClientError | IncompleteReadError | ChecksumError | FlexibleChecksumError
    )


def _describe(exc: Exception) -> str:
    """The error without its message: botocore messages can carry the endpoint URL (and any user:password in
    it), never the credentials themselves, but the code or class name is all an operator needs."""
    code = _error_code(exc)
    status = _http_status(exc)
    if code:
        return f"{code} (HTTP {status})" if status is not None else code
    return type(exc).__name__


class S3BlobStore:
    """``BlobStore`` on one bucket of an S3-compatible service, retrying transient failures.

    Args:
        bucket: the bucket's name (it must exist, or call ``create_bucket``).
        endpoint_url: the service's URL (``http://seaweedfs-s3:8333``); None for AWS S3 itself.
        region: the region name (most S3-compatible services accept any).
        prefix: prepended to every object key (to share a bucket).
        client: an already-built boto3 S3 client (tests); credentials and timeouts are then the client's.
        attempts: tries per request in all (1: no retries).
        backoff_s: the first retry's delay; each later one doubles, up to ``max_backoff_s``. Each delay is
            drawn uniformly from its upper half (jitter, so that many clients do not retry in step).
        max_backoff_s: the longest delay between two tries.
        connect_timeout_s: how long to wait for a connection (client built here only).
        read_timeout_s: how long to wait for each read from the socket (client built here only).
        sleep: how to wait between tries (tests pass a recorder).

    Raises:
        BlobStoreError: boto3 cannot build a client from this configuration.
        ValueError: a retry parameter out of range.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        client: S3Client | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_s: float = DEFAULT_BACKOFF_S,
        max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= attempts <= 100:
            raise ValueError("attempts must be 1 to 100")
        if not 0 <= backoff_s <= max_backoff_s <= 600:
            raise ValueError("backoff_s and max_backoff_s must satisfy 0 <= backoff_s <= max_backoff_s <= 600")
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        self.bucket = bucket
        self.prefix = prefix
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._rng = random.Random()
        self._stats_lock = threading.Lock()
        self.retries = 0
        """Requests retried so far (all operations, all threads): a health signal, also for tests."""
        if client is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError

            try:
                # a session of its own: the default session caches the first credentials it finds for the
                # whole process, so a store built later would not see the environment it was built in
                client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=endpoint_url or None,
                    region_name=region,
                    config=Config(
                        retries={"total_max_attempts": 1, "mode": "standard"},  # retried here, see the docstring
                        connect_timeout=connect_timeout_s,
                        read_timeout=read_timeout_s,
                    ),
                )
            except (BotoCoreError, ValueError) as exc:
                raise BlobStoreError(f"cannot build an S3 client for {endpoint_url or 'AWS'}: {exc}") from exc
        self._s3: S3Client = client

    def _key(self, key: bytes) -> str:
        check_key(key)
        return self.prefix + key.hex()

    def _fail(self, what: str, exc: Exception, tries: int = 1, elapsed_s: float = 0.0) -> BlobStoreError:
        after = f" after {tries} tries over {elapsed_s:.1f} s" if tries > 1 else ""
        return BlobStoreError(f"S3 {what} in bucket {self.bucket!r} failed{after}: {_describe(exc)}")

    def _call(self, what: str, op: Callable[[], T]) -> T:
        """Run ``op`` (one S3 request), retrying transient failures; raise ``BlobStoreError`` when a failure
        is permanent or the tries are spent."""
        from botocore.exceptions import BotoCoreError, ClientError

        started = time.monotonic()
        delay = self.backoff_s
        tries = 0
        while True:
            tries += 1
            try:
                return op()
            except (BotoCoreError, ClientError) as exc:
                if tries >= self.attempts or not is_transient(exc):
                    raise self._fail(what, exc, tries, time.monotonic() - started) from exc
                wait = self._rng.uniform(delay / 2, delay)
                log.warning(
                    "S3 %s in bucket %r: %s, try %d of %d; retrying in %.2f s",
                    what,
                    self.bucket,
                    _describe(exc),
                    tries,
                    self.attempts,
                    wait,
                )
            with self._stats_lock:
                self.retries += 1
            self._sleep(wait)
            delay = min(2 * delay, self.max_backoff_s)

    def create_bucket(self) -> None:
        """Create the bucket if it does not exist. Raises ``BlobStoreError``."""
        from botocore.exceptions import ClientError

        def op() -> None:
            try:
                self._s3.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

        self._call("create bucket", op)

    def put(self, key: bytes, data: bytes) -> None:
        name = self._key(key)
        body = bytes(data)
        self._call(f"put of blob {key.hex()}", lambda: self._s3.put_object(Bucket=self.bucket, Key=name, Body=body))

    def get(self, key: bytes) -> bytes:
        from botocore.exceptions import ClientError

        name = self._key(key)

        def op() -> bytes | None:
            try:
                # read inside the retried call: a body cut short is retried like a failed request
                return self._s3.get_object(Bucket=self.bucket, Key=name)["Body"].read()
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND:
                    return None
                raise

        data = self._call(f"get of blob {key.hex()}", op)
        if data is None:
            raise BlobNotFound(f"no blob {key.hex()}")
        return data

    def has(self, key: bytes) -> bool:
        from botocore.exceptions import ClientError

        name = self._key(key)

        def op() -> bool:
            try:
                self._s3.head_object(Bucket=self.bucket, Key=name)
                return True
            except ClientError as exc:
                if _error_code(exc) in _NOT_FOUND:
                    return False
                raise

        return self._call(f"head of blob {key.hex()}", op)

    def delete(self, key: bytes) -> None:
        name = self._key(key)
        self._call(f"delete of blob {key.hex()}", lambda: self._s3.delete_object(Bucket=self.bucket, Key=name))

    def list(self) -> Iterator[bytes]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}
            if token is not None:
                kwargs["ContinuationToken"] = token
            # one page per retried request: a retry never repeats keys already yielded
            page = self._call("listing", functools.partial(self._s3.list_objects_v2, **kwargs))
            for obj in page.get("Contents", []):
                name = obj.get("Key", "")[len(self.prefix) :]
                if len(name) == 2 * KEY_BYTES:
                    try:
                        yield bytes.fromhex(name)
                    except ValueError:
                        continue  # not a blob: someone else's object
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

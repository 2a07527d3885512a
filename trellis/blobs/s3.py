"""``S3BlobStore``: the ``BlobStore`` port on any S3-compatible object service (AWS S3, MinIO, Ceph RGW, ...).

Each blob is one object ``PREFIX<64 hex digits>`` in one bucket. S3 writes an object whole or not at all, so a
failed upload leaves nothing partial. Credentials come from boto3's standard chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` in the environment, or the shared credentials file); they are
never read from ``config.toml``, never logged and never put in an error message. botocore errors are translated
here into ``BlobStoreError`` / ``BlobNotFound``.

boto3 is imported when a store is built, so nodes that use the local store do not pay for importing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from trellis.blobs.store import KEY_BYTES, BlobNotFound, BlobStoreError, check_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def _error_code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """``BlobStore`` on one bucket of an S3-compatible service.

    Args:
        bucket: the bucket's name (it must exist, or call ``create_bucket``).
        endpoint_url: the service's URL (``http://minio:9000``); None for AWS S3 itself.
        region: the region name (most S3-compatible services accept any).
        prefix: prepended to every object key (to share a bucket).
        client: an already-built boto3 S3 client (tests); credentials are then the client's.

    Raises:
        BlobStoreError: boto3 cannot build a client from this configuration.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError

            try:
                client = boto3.client(
                    "s3",
                    endpoint_url=endpoint_url or None,
                    region_name=region,
                    config=Config(retries={"max_attempts": 3, "mode": "standard"}),
                )
            except (BotoCoreError, ValueError) as exc:
                raise BlobStoreError(f"cannot build an S3 client for {endpoint_url or 'AWS'}: {exc}") from exc
        self._s3: S3Client = client

    def _key(self, key: bytes) -> str:
        check_key(key)
        return self.prefix + key.hex()

    def _fail(self, what: str, exc: Exception) -> BlobStoreError:
        code = _error_code(exc) or type(exc).__name__
        return BlobStoreError(f"S3 {what} in bucket {self.bucket!r} failed: {code}")

    def create_bucket(self) -> None:
        """Create the bucket if it does not exist. Raises ``BlobStoreError``."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise self._fail("create bucket", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("create bucket", exc) from exc

    def put(self, key: bytes, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._key(key)
        try:
            self._s3.put_object(Bucket=self.bucket, Key=name, Body=bytes(data))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"put of blob {key.hex()}", exc) from exc

    def get(self, key: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._key(key)
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise BlobNotFound(f"no blob {key.hex()}") from None
            raise self._fail(f"get of blob {key.hex()}", exc) from exc
        except BotoCoreError as exc:
            raise self._fail(f"get of blob {key.hex()}", exc) from exc

    def has(self, key: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._key(key)
        try:
            self._s3.head_object(Bucket=self.bucket, Key=name)
            return True
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return False
            raise self._fail(f"head of blob {key.hex()}", exc) from exc
        except BotoCoreError as exc:
            raise self._fail(f"head of blob {key.hex()}", exc) from exc

    def delete(self, key: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._key(key)
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(f"delete of blob {key.hex()}", exc) from exc

    def list(self) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj.get("Key", "")[len(self.prefix) :]
                    if len(name) == 2 * KEY_BYTES:
                        try:
                            yield bytes.fromhex(name)
                        except ValueError:
                            continue  # not a blob: someone else's object
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("listing", exc) from exc

"""The S3-compatible backend (AWS S3, MinIO, Ceph RGW, Alibaba Cloud OSS) via boto3.

Same content-addressed keys as on disk (``ab/cd/<sha256>.jpg``), under an optional prefix, so
``migrate-storage`` can copy a local store key for key and several app servers share one bucket.

Compatibility choices, because "S3-compatible" stores differ from AWS in the details:
- Integrity is checked with Content-MD5 on upload (every S3 dialect supports it); boto3's newer
  default CRC checksums are switched to "when required", which older MinIO/OSS/RGW reject.
- Path-style addressing when an endpoint URL is given (MinIO and RGW are rarely set up for
  virtual-host buckets); AWS's own endpoints keep boto3's default.
- Objects are written with ``put_object`` (photos are at most MAX_PHOTO_BYTES, far below the 5 GB
  single-request limit), so no multipart leftovers can exist and ``cleanup`` has nothing to do.
"""
from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, BinaryIO

from .base import PhotoStore, check_key

IMMUTABLE = "private, max-age=31536000, immutable"

# Creating a boto3 session loads the service models (~0.5 s); one session serves every client, but
# sessions are not thread-safe while creating clients, hence the lock.
_session_lock = threading.Lock()
_session = None


def _client(**kwargs: Any) -> Any:
    global _session
    import boto3

    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", **kwargs)


class S3Store(PhotoStore):
    def __init__(self, bucket: str, prefix: str = "", *, client: Any) -> None:
        if not bucket:
            raise ValueError("S3_BUCKET must be set for STORAGE=s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client

    @classmethod
    def from_config(cls, config: Mapping) -> S3Store:
        from botocore.config import Config as BotoConfig

        endpoint = config.get("S3_ENDPOINT_URL") or None
        boto_config = BotoConfig(
            region_name=config.get("S3_REGION") or None,
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            # gunicorn threads share this client: one pooled connection per thread, and a few spare.
            max_pool_connections=int(config.get("S3_MAX_POOL_CONNECTIONS") or 20),
        )
        # Credentials: explicit settings win; otherwise boto3's chain (env, ~/.aws, instance role).
        client = _client(
            endpoint_url=endpoint, config=boto_config,
            aws_access_key_id=config.get("S3_ACCESS_KEY_ID") or None,
            aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY") or None,
        )
        return cls(config.get("S3_BUCKET") or "", config.get("S3_PREFIX") or "", client=client)

    # --- keys ---------------------------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _store_key(self, object_key: str) -> str | None:
        if not object_key.startswith(self.prefix):
            return None
        key = object_key[len(self.prefix):]
        try:
            return check_key(key)
        except ValueError:
            return None  # not ours (another application's object under the prefix): leave it alone

    # --- the five verbs -----------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        """Upload with Content-MD5, so a corrupted transfer is refused by the server; S3 acknowledges
        only after the object is durably stored, which is what the row commit that follows needs.
        An existing key (same bytes) is copied onto itself instead, to refresh its age for gc."""
        object_key = self.object_key(key)
        if self._head(object_key) is not None:
            self.client.copy_object(
                Bucket=self.bucket, Key=object_key, CopySource={"Bucket": self.bucket, "Key": object_key},
                MetadataDirective="REPLACE", ContentType="image/jpeg", CacheControl=IMMUTABLE,
            )
            return
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self.client.put_object(
            Bucket=self.bucket, Key=object_key, Body=data, ContentMD5=md5, ContentType="image/jpeg",
            CacheControl=IMMUTABLE,
        )

    def open(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None
        return response["Body"]

    def exists(self, key: str) -> bool:
        return self._head(self.object_key(key)) is not None

    def delete(self, key: str) -> bool:
        object_key = self.object_key(key)
        if self._head(object_key) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=object_key)
        return True

    def keys(self, older_than: datetime | None = None) -> Iterator[str]:
        for obj in self._objects():
            key = self._store_key(obj["Key"])
            if key is not None and (older_than is None or obj["LastModified"] < older_than):
                yield key

    def is_older_than(self, key: str, moment: datetime) -> bool:
        head = self._head(self.object_key(key))
        return head is not None and head["LastModified"] < moment

    # --- beyond the interface -----------------------------------------------------------------------

    def sha256_of(self, key: str) -> str | None:
        """Hash of the stored bytes (None when absent), read back in full: migrate-storage trusts
        nothing the server says about an object."""
        try:
            body = self.open(key)
        except FileNotFoundError:
            return None
        digest = hashlib.sha256()
        with body:
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def etag(self, key: str) -> str | None:
        """The object's ETag without quotes (the MD5 of its bytes for a single-part upload), or None."""
        head = self._head(self.object_key(key))
        return head["ETag"].strip('"') if head else None

    def presigned_url(self, key: str, expires_in: int, *, filename: str | None = None) -> str:
        """A short-lived GET link (PHOTO_SERVING=presigned): the bucket, not the app server, sends the bytes."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(key),
                                  "ResponseContentType": "image/jpeg"}
        if filename:
            params["ResponseContentDisposition"] = f'inline; filename="{filename}"'
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def check(self) -> None:
        """Readiness: the bucket answers and these credentials may use it."""
        self.client.head_bucket(Bucket=self.bucket)

    def _head(self, object_key: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=object_key)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _objects(self) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            yield from page.get("Contents", [])

"""A real S3 endpoint for the tests: moto's standalone server on loopback, spoken to over HTTP.

``STORAGE=s3 pytest …`` makes the session's ``app`` use it (tests/conftest.py), so the photo suite
runs unchanged against the S3 backend; the S3-specific tests use it whatever STORAGE says.
"""
from __future__ import annotations

import functools
import logging
import os
import secrets

import pytest

from tests.live_server import free_port

CREDENTIALS = {"S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing"}


def storage_backend() -> str:
    return os.environ.get("STORAGE", "local")


@pytest.fixture(scope="session")
def s3_server():
    """Start ThreadedMotoServer on 127.0.0.1 with a free port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # moto serves with werkzeug's development server, which logs every request it answers.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_settings(endpoint: str, bucket: str | None = None, prefix: str = "photos") -> dict:
    """App config for a fresh bucket on the test server (created here)."""
    settings = {
        "PHOTO_STORE": "s3",
        "S3_ENDPOINT_URL": endpoint,
        "S3_BUCKET": bucket or f"xuncha-test-{secrets.token_hex(4)}",
        "S3_PREFIX": prefix,
        "S3_REGION": "us-east-1",
        **CREDENTIALS,
    }
    client(settings).create_bucket(Bucket=settings["S3_BUCKET"])
    return settings


def client(settings):
    """A plain boto3 client for the test's own checks (not the app's code path)."""
    return _client(settings["S3_ENDPOINT_URL"], settings["S3_REGION"], settings["S3_ACCESS_KEY_ID"],
                   settings["S3_SECRET_ACCESS_KEY"])


@functools.lru_cache(maxsize=None)
def _client(endpoint: str, region: str, key_id: str, secret: str):
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region,
                                          aws_access_key_id=key_id, aws_secret_access_key=secret)


def empty_bucket(settings) -> None:
    s3 = client(settings)
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings["S3_BUCKET"]):
        objects = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=settings["S3_BUCKET"], Delete={"Objects": objects})


def server_env(config) -> dict[str, str]:
    """Environment variables that give a separate server process the same photo store as ``config``."""
    if config.get("PHOTO_STORE") != "s3":
        return {"STORAGE": "local"}
    return {
        "STORAGE": "s3", "S3_BUCKET": config["S3_BUCKET"], "S3_PREFIX": config.get("S3_PREFIX") or "",
        "S3_ENDPOINT_URL": config["S3_ENDPOINT_URL"], "S3_REGION": config.get("S3_REGION") or "",
        "AWS_ACCESS_KEY_ID": config["S3_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": config["S3_SECRET_ACCESS_KEY"],
        "PHOTO_SERVING": config.get("PHOTO_SERVING", "stream"),
    }

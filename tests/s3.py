"""A real S3 API for the storage tests: moto's server mode on loopback, never a mock
in-process and never a remote address.

``s3_endpoint`` is ``S3_ENDPOINT_URL`` when the run was given one (CI starts moto's
server itself), else a ``moto_server`` started here for the session on a free loopback
port. ``s3`` gives a test media on S3 configured exactly as ``shop/settings.py``
configures it from the README's variables, in a bucket of its own. Import both into a
test module (``from tests.s3 import s3, s3_endpoint``)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from shop.settings import s3_storage

#: moto accepts any credentials; a run given real ones (CI's) keeps them.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not answer at {url} within {timeout}s")


@pytest.fixture(scope="session")
def s3_endpoint():
    given = os.environ.get("S3_ENDPOINT_URL")
    if given:
        if urlsplit(given).hostname not in {"127.0.0.1", "localhost", "::1"}:
            pytest.fail(f"S3_ENDPOINT_URL must be a loopback address in tests, not {given}", pytrace=False)
        yield given
        return
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_listening(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def public_read_policy(bucket):
    """The bucket policy unsigned media URLs (``querystring_auth`` off) need: anyone may
    read an object; nobody may list the bucket, so keyed names stay secret."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
    }]})


@dataclass
class S3:
    bucket: str
    client: object
    env: dict  # the README's variables for this bucket, for worker processes

    def keys(self, prefix=""):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch):
    """Media (photos, styles, variants, masks) on S3, in a new bucket."""
    env = {"S3_BUCKET": f"stylestore-{uuid.uuid4().hex[:12]}", "S3_ENDPOINT_URL": s3_endpoint, "S3_REGION": REGION,
           **{name: os.environ.get(name) or value for name, value in CREDENTIALS.items()}}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    client.create_bucket(Bucket=env["S3_BUCKET"])
    client.put_bucket_policy(Bucket=env["S3_BUCKET"], Policy=public_read_policy(env["S3_BUCKET"]))
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(env)}
    return S3(env["S3_BUCKET"], client, env)


def fetch(client, url):
    """``(status, body)`` of a media URL as a browser gets it: from the S3 server for an
    absolute URL, from the shop (``client``) for a local one. A missing object is 404
    on local disk, 403 on S3 (the public may read objects, not list the bucket)."""
    if urlsplit(url).scheme:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, b""
    response = client.get(url)
    return response.status_code, b"".join(response.streaming_content) if response.status_code == 200 else b""


def create_bucket():
    """CI: make the bucket the README's variables name (S3_BUCKET at S3_ENDPOINT_URL),
    public-read, once the server answers."""
    endpoint, bucket = os.environ["S3_ENDPOINT_URL"], os.environ["S3_BUCKET"]
    deadline = time.monotonic() + 60
    client = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("S3_REGION") or REGION)
    while True:
        try:
            client.create_bucket(Bucket=bucket)
            break
        except Exception:  # not listening yet: botocore raises several kinds
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    client.put_bucket_policy(Bucket=bucket, Policy=public_read_policy(bucket))


if __name__ == "__main__":
    create_bucket()

"""Attachments in an S3-compatible object store: the app as `make run` serves it, with
S3_BUCKET and its endpoint set, against moto's S3 server on loopback."""

import io
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from tests import samples
from tests.live import LiveServer, free_port

BUCKET = "webchat-files"
KEYS = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", **KEYS
    )
    client.create_bucket(Bucket=BUCKET)
    client.endpoint = f"http://127.0.0.1:{port}"
    yield client
    server.stop()


@pytest.fixture(scope="module")
def app(s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("s3"),
        S3_BUCKET=BUCKET,
        S3_ENDPOINT_URL=s3.endpoint,
        S3_REGION="us-east-1",
        S3_ACCESS_KEY_ID=KEYS["aws_access_key_id"],
        S3_SECRET_ACCESS_KEY=KEYS["aws_secret_access_key"],
    )
    server.start()
    yield server
    server.stop()


def keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_files_live_in_the_bucket_are_served_through_the_checks_and_go_with_their_conversation(
    app: LiveServer, s3: Any
) -> None:
    session = app.sign_up(f"s3-{uuid.uuid4().hex[:6]}")
    conversation = app.new_conversation(session)
    attachment = app.upload(session, conversation, "pic.jpg", samples.photo(300, 200))
    (key,) = keys(s3)
    assert key.startswith("webchat/attachments/") and key.endswith(".jpg")
    # Private in the bucket; nothing under MEDIA_ROOT.
    acl = s3.get_object_acl(Bucket=BUCKET, Key=key)
    assert not any("AllUsers" in g["Grantee"].get("URI", "") for g in acl["Grants"])
    assert not (app.workdir / "media").exists()
    with httpx.Client(base_url=app.url, cookies={"sessionid": session}) as owner:
        served = owner.get(attachment["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).size == (300, 200)
    assert served.content == s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert httpx.get(app.url + attachment["url"]).status_code == 404
    app.post(session, f"/c/{conversation}/delete/", expect=200)
    assert keys(s3) == []

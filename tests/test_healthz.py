import os
import uuid
from typing import Any

import httpx
import pytest
from django.test import Client

from tests import services
from tests.live import LiveServer


@pytest.mark.django_db
def test_it_is_healthy() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_an_unreachable_redis_is_named(settings: Any) -> None:
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "webchat.pubsub.RedisPubSubLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},  # nothing listens on port 9
        }
    }
    channel_layers.backends.clear()
    try:
        response = Client().get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "channel_layer": "failed"}


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
)
def test_a_lost_database_is_named(tmp_path: Any) -> None:
    database = services.create_database("webchat_health")
    server = LiveServer(
        tmp_path,
        database,
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        REDIS_PREFIX=f"webchat-health-{uuid.uuid4().hex[:8]}",
    )
    try:
        server.start()
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        services.drop_database(database)
        response = httpx.get(f"{server.url}/healthz")
        assert response.status_code == 503
        assert response.json() == {"database": "failed", "channel_layer": "ok"}
    finally:
        server.stop()
        services.drop_database(database)

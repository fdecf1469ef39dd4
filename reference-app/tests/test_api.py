from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Broker, Database, Settings

PLATFORM_DATABASE = Database(
    host="writer.example", reader_host="reader.example", port=5432, name="app", username="app"
)


def refuse_tokens(host: str, port: int, username: str) -> str:
    raise AssertionError(f"a connection to {host}:{port} as {username} was opened")


def test_healthz_answers_without_touching_the_database() -> None:
    api = create_app(Settings(region="eu-west-1", database=PLATFORM_DATABASE), refuse_tokens)
    with TestClient(api) as client:
        response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_root_says_what_the_app_is_without_touching_the_database() -> None:
    api = create_app(Settings(region="eu-west-1", database=PLATFORM_DATABASE), refuse_tokens)
    with TestClient(api) as client:
        response = client.get("/")
    assert response.status_code == 200
    assert response.json()["app"] == "reference-app"
    assert response.json()["configured"] == ["database"]


def test_the_root_lists_the_configured_tiers_and_no_value_of_them() -> None:
    settings = Settings(
        uploads_bucket="platform-dev-uploads",
        broker=Broker("amqps://b-1.mq.example:5671", "app", "broker-password"),
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/")
    assert response.json()["configured"] == ["uploads", "broker"]
    for value in ("platform-dev-uploads", "amqps://", "broker-password"):
        assert value not in response.text


def test_a_note_written_is_listed_newest_first(client: TestClient) -> None:
    first = client.post("/notes", json={"text": "first"})
    second = client.post("/notes", json={"text": "second"})
    assert (first.status_code, second.status_code) == (201, 201)
    listed = client.get("/notes").json()
    assert [note["text"] for note in listed] == ["second", "first"]
    assert listed[0]["id"] == second.json()["id"]
    assert [note["text"] for note in client.get("/notes", params={"limit": 1}).json()] == ["second"]


def test_an_empty_or_too_long_note_is_refused(client: TestClient) -> None:
    assert client.post("/notes", json={"text": ""}).status_code == 422
    assert client.post("/notes", json={"text": "x" * 1001}).status_code == 422
    assert client.get("/notes").json() == []


def test_notes_without_a_database_answer_503() -> None:
    with TestClient(create_app(Settings())) as client:
        assert client.get("/notes").status_code == 503
        assert client.post("/notes", json={"text": "lost"}).status_code == 503


class ConnectingError(Exception):
    """Raised instead of opening a connection: the test only needs where it would go."""


def test_reads_go_to_the_reader_and_writes_to_the_writer() -> None:
    hosts: list[str] = []

    def record(host: str, port: int, username: str) -> str:
        hosts.append(host)
        raise ConnectingError

    api = create_app(Settings(region="eu-west-1", database=PLATFORM_DATABASE), record)
    with TestClient(api) as client:
        with pytest.raises(ConnectingError):
            client.get("/notes")
        with pytest.raises(ConnectingError):
            client.post("/notes", json={"text": "to the writer"})
    assert hosts == ["reader.example", "writer.example"]

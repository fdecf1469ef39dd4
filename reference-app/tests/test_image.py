"""The Dockerfile, read as Docker reads its instructions (no daemon needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.database import RDS_CA_BUNDLE

FOLDER = Path(__file__).parents[1]


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (FOLDER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split()[0].upper(), line.partition(" ")[2])
        for line in lines
        if line and not line.startswith("#")
    ]


def last(keyword: str) -> str:
    return [args for word, args in instructions() if word == keyword][-1]


def test_the_base_is_a_slim_python_pinned_to_a_patch_version() -> None:
    [base] = [
        args.partition("=")[2] for word, args in instructions() if args.startswith("PYTHON_IMAGE=")
    ]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    assert all(
        args.split()[0] == "${PYTHON_IMAGE}" for word, args in instructions() if word == "FROM"
    )


def test_the_app_runs_as_a_non_root_user() -> None:
    user = last("USER")
    assert user not in {"root", "0"} and not user.startswith("0:")


def test_the_app_listens_on_the_exposed_port_in_the_working_directory_of_alembic() -> None:
    command = json.loads(last("CMD"))
    port = command[command.index("--port") + 1]
    assert last("EXPOSE") == port
    assert ("COPY", "alembic.ini ./") in instructions()
    assert last("WORKDIR") == "/app"


def test_the_rds_bundle_lands_where_the_app_reads_it() -> None:
    copies = [args.split() for word, args in instructions() if word == "COPY"]
    assert any(parts[-1] == RDS_CA_BUNDLE for parts in copies)


def test_the_build_context_ships_every_file_the_image_copies() -> None:
    ignored = (FOLDER / ".dockerignore").read_text().splitlines()
    for kept in ("requirements.txt", "alembic.ini", "app/", "migrations/"):
        assert f"!{kept}" in ignored


def test_tmp_is_a_volume_the_app_user_owns() -> None:
    # Fargate gives the /tmp bind volume the ownership of the image's VOLUME path (ECS Developer
    # Guide, bind-mounts.html); set before VOLUME, which discards later changes to the path.
    found = instructions()
    volume = found.index(("VOLUME", '["/tmp"]'))
    assert ("RUN", "chown 10001:10001 /tmp && chmod 1777 /tmp") in found[:volume]
    assert last("USER") == "10001"
    assert found.index(("USER", "10001")) > volume


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for word, args in instructions():
        if word == "FROM":
            found.append([])
        elif found:
            found[-1].append((word, args))
    return found


def test_every_stage_passes_the_build_time_to_its_run_instructions() -> None:
    # BuildKit hands SOURCE_DATE_EPOCH to RUN only in a stage that declares the ARG (BuildKit
    # docs/build-repro.md); then pip's and compileall's .pyc files hold source hashes, not build
    # times (Python docs, py_compile: SOURCE_DATE_EPOCH selects CHECKED_HASH), and useradd writes
    # that day, not today's, into /etc/shadow (shadow-maint/shadow#71, #146).
    for stage in stages():
        runs = [i for i, (word, _) in enumerate(stage) if word == "RUN"]
        assert ("ARG", "SOURCE_DATE_EPOCH") in stage[: runs[0]]

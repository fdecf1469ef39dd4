"""The HTTP API: `uvicorn --factory app.main:create_app --host 0.0.0.0 --port 8080`."""

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations at run time,
# and they name dependencies local to create_app.
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.database import Engines, TokenSource, create_engines
from app.models import NOTE_MAX_LENGTH, Note
from app.settings import Settings

ABOUT = "The platform's reference application: a FastAPI app with one table (notes)."


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=NOTE_MAX_LENGTH)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_at: datetime


def create_app(settings: Settings | None = None, tokens: TokenSource | None = None) -> FastAPI:
    settings = settings or Settings.from_environ(os.environ)
    engines = create_engines(settings, tokens)
    api = FastAPI(title="reference-app", description=ABOUT)

    def session_from(engine: Callable[[Engines], Engine]) -> Callable[[], Iterator[Session]]:
        def session() -> Iterator[Session]:
            if engines is None:
                raise HTTPException(503, "no database configured (DB_* variables or DATABASE_URL)")
            with Session(engine(engines)) as opened:
                yield opened

        return session

    writer = session_from(lambda both: both.writer)
    reader = session_from(lambda both: both.reader)

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        # The process answers: nothing else. A check that called the database would mark every
        # task unhealthy, and have them all replaced, whenever the database blips.
        return {"status": "ok"}

    @api.get("/")
    def about() -> dict[str, object]:
        return {
            "app": "reference-app",
            "about": ABOUT,
            "endpoints": ["GET /healthz", "GET /notes", "POST /notes"],
            "configured": settings.configured(),
        }

    @api.post("/notes", status_code=201)
    def add_note(note: NoteIn, session: Annotated[Session, Depends(writer)]) -> NoteOut:
        row = Note(text=note.text)
        session.add(row)
        session.commit()
        session.refresh(row)
        return NoteOut.model_validate(row)

    @api.get("/notes")
    def list_notes(
        session: Annotated[Session, Depends(reader)],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> list[NoteOut]:
        rows = session.scalars(select(Note).order_by(Note.id.desc()).limit(limit))
        return [NoteOut.model_validate(row) for row in rows]

    return api

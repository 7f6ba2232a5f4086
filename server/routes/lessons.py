"""``GET /api/lessons``, ``GET /api/lessons/{id}`` and ``GET /api/lessons/{id}/example.csv``:
the course for the page, and a lesson's example table for a learner to open.

The list gives each lesson's id, title, summary, concepts, minutes and number
of steps in the language asked (``lang=ja|en``, default ``en``); one lesson
gives its steps as the page shows them (:func:`server.lessons.localized`).
What a step does to the run and the verdict on a prediction go over the
WebSocket (the ``lesson`` command; docs/lessons.md). Lesson files are read and
checked once per process (:func:`server.lessons.course`); the bodies are cached
and sent with an ``ETag``, as the catalog is.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response

from server.lessons import ID_PATTERN, course, localized, summary

router = APIRouter(prefix="/api")

Lang = Annotated[Literal["ja", "en"], Query()]


@lru_cache(maxsize=256)
def _body(lesson_id: str | None, lang: str) -> bytes:
    if lesson_id is None:
        return orjson.dumps({"lang": lang, "lessons": [summary(ls, lang)
                                                       for ls in course().values()]})
    return orjson.dumps(localized(course()[lesson_id], lang))


def _send(body: bytes, request: Request) -> Response:
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/lessons")
async def list_lessons(request: Request, lang: Lang = "en") -> Response:
    """Every lesson, in course order, in ``lang``."""
    return _send(_body(None, lang), request)


@router.get("/lessons/{lesson_id}")
async def get_lesson(request: Request,
                     lesson_id: Annotated[str, Path(pattern=ID_PATTERN)],
                     lang: Lang = "en") -> Response:
    """One lesson's steps in ``lang``; 404 naming the lessons there are."""
    if lesson_id not in course():
        raise HTTPException(404, f"no lesson {lesson_id!r}; lessons: {', '.join(course())}")
    return _send(_body(lesson_id, lang), request)


@router.get("/lessons/{lesson_id}/example.csv")
async def get_example(lesson_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> Response:
    """The lesson's example CSV as a file to download (a learner sees what a table to
    learn from looks like, and may edit it); 404 when the lesson has none."""
    lesson = course().get(lesson_id)
    if lesson is None or lesson.example is None:
        raise HTTPException(404, f"lesson {lesson_id!r} offers no example CSV")
    return Response(lesson.example_text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{lesson.example}"',
        "Cache-Control": "no-cache"})

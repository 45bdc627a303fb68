"""The ceiling to compare courier-api with: bare Starlette + a psycopg 3 async pool, one courier by id.

Same stack (uvicorn, uvloop, httptools) with nothing of ours: no middleware, no validation, no error
envelope. ``python apps/http/bench/ceiling.py URL PORT [WORKERS]``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SQL = (
    "SELECT id, name, phone, status, transport_type, created_at, updated_at "
    "FROM couriers WHERE id = %s AND deleted_at IS NULL"
)


def create() -> Starlette:
    pool = AsyncConnectionPool(
        os.environ["CEILING_DATABASE_URL"], max_size=10, open=False, kwargs={"autocommit": True}
    )

    async def courier(request: Request) -> Response:
        async with pool.connection() as conn:
            row = await (await conn.execute(SQL, (int(request.path_params["id"]),))).fetchone()
        if row is None:
            return JSONResponse({"error": "not found"}, 404)
        keys = ("id", "name", "phone", "status", "transport_type", "created_at", "updated_at")
        return JSONResponse(
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in zip(keys, row, strict=True)}
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    return Starlette(routes=[Route("/api/v1/courier/{id}", courier)], lifespan=lifespan)


if __name__ == "__main__":
    os.environ["CEILING_DATABASE_URL"] = sys.argv[1]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    uvicorn.run(
        "ceiling:create", factory=True, app_dir=os.path.dirname(__file__), port=int(sys.argv[2]),
        workers=workers, loop="uvloop", http="httptools", access_log=False, log_level="warning",
    )  # fmt: skip

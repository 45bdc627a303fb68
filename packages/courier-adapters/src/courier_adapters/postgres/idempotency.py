"""``Idempotency-Key`` records on PostgreSQL (table ``idempotency_keys``).

A key goes through three states: *reserved* (a row with ``status`` NULL: the first request is being
answered), *completed* (its answer is stored) or *released* (the row deleted: the answer was a 5xx or
never sent, so a retry runs again). Every statement is one round trip in autocommit mode; the primary
key ``(scope, key)`` decides which of two concurrent requests with one key runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from courier_adapters.postgres.database import Session

# Reserve a key, or take over its row when that row has outlived the window (``ttl``) or was left in
# progress longer than any request can run (``lease``: its process died before answering).
_RESERVE = (
    "INSERT INTO idempotency_keys AS k (scope, key, request_hash) VALUES (%(scope)s, %(key)s, %(hash)s)"
    " ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status = NULL,"
    " headers = NULL, body = NULL, created_at = now()"
    " WHERE k.created_at < now() - make_interval(secs => %(ttl)s)"
    " OR (k.status IS NULL AND k.created_at < now() - make_interval(secs => %(lease)s))"
    " RETURNING 1"
)
_GET = (
    "SELECT request_hash, status, headers, body FROM idempotency_keys"
    " WHERE scope = %(scope)s AND key = %(key)s"
)
_COMPLETE = (
    "UPDATE idempotency_keys SET status = %(status)s, headers = %(headers)s::jsonb, body = %(body)s"
    " WHERE scope = %(scope)s AND key = %(key)s AND request_hash = %(hash)s AND status IS NULL"
)
_RELEASE = (
    "DELETE FROM idempotency_keys"
    " WHERE scope = %(scope)s AND key = %(key)s AND request_hash = %(hash)s AND status IS NULL"
)
_PRUNE = "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => %(seconds)s)"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key's row: the request it was first used for and, once answered, the answer."""

    request_hash: bytes
    status: int | None  # None: the first request is still being answered
    headers: list[list[str]]  # [name, value] pairs, as sent (latin-1 text)
    body: bytes


class PostgresIdempotencyStore:
    """The statements of ``Idempotency-Key`` on ``session`` (a pooled autocommit session)."""

    def __init__(self, session: Session, *, ttl: float, lease: float) -> None:
        self._session = session
        self.ttl = ttl
        self.lease = lease

    async def reserve(self, scope: str, key: str, request_hash: bytes) -> bool:
        """Whether the key is now ours (new, or its old row had expired or was abandoned)."""
        params = {"scope": scope, "key": key, "hash": request_hash, "ttl": self.ttl, "lease": self.lease}
        return await self._session.fetch_one(_RESERVE, params) is not None

    async def get(self, scope: str, key: str) -> StoredKey | None:
        row = await self._session.fetch_one(_GET, {"scope": scope, "key": key})
        if row is None:
            return None
        return StoredKey(
            request_hash=bytes(row[0]),
            status=row[1],
            headers=row[2] or [],
            body=b"" if row[3] is None else bytes(row[3]),
        )

    async def complete(
        self, scope: str, key: str, request_hash: bytes, *, status: int, headers: str, body: bytes
    ) -> bool:
        """Store the answer (``headers``: a JSON array of [name, value]); False if the row is not ours."""
        params = {
            "scope": scope,
            "key": key,
            "hash": request_hash,
            "status": status,
            "headers": headers,
            "body": body,
        }
        return await self._session.execute(_COMPLETE, params) == 1

    async def release(self, scope: str, key: str, request_hash: bytes) -> None:
        """Forget a reservation that got no answer worth keeping: a retry runs again."""
        await self._session.execute(_RELEASE, {"scope": scope, "key": key, "hash": request_hash})

    async def prune(self, *, older_than: float | None = None) -> int:
        """Delete keys older than ``older_than`` seconds (default: the window); return how many."""
        seconds = self.ttl if older_than is None else older_than
        return await self._session.execute(_PRUNE, {"seconds": seconds})

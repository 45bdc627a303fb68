"""Cluster-wide jobs: one leader at a time per job, standbys take over when it goes."""

from __future__ import annotations

import psycopg
import pytest

from courier_adapters.postgres.leader import LeaderLease, leader_only

pytestmark = pytest.mark.integration


async def test_one_leader_per_job_and_a_standby_takes_over_when_it_lets_go(database_url: str) -> None:
    seen: list[tuple[str, bool]] = []
    first = LeaderLease(database_url, "reconcile", observer=lambda job, leading: seen.append((job, leading)))
    second = LeaderLease(database_url, "reconcile")
    other_job = LeaderLease(database_url, "prune")
    try:
        assert await first.held()
        assert not await second.held()
        assert await first.held()  # still, on the next tick
        assert await other_job.held()  # each job has its own leader
        await first.release()
        assert await second.held()
        assert not await first.held()
        assert seen == [("reconcile", True), ("reconcile", False)]
    finally:
        for lease in (first, second, other_job):
            await lease.release()


async def test_a_leader_whose_session_is_killed_stops_leading_and_a_standby_leads(database_url: str) -> None:
    leader, standby = LeaderLease(database_url, "reconcile"), LeaderLease(database_url, "reconcile")
    try:
        assert await leader.held()
        assert not await standby.held()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'courier-leader-reconcile' AND datname = current_database()"
                " AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = 5 AND objid = 1)"
            )
        assert await standby.held()  # the server released the dead session's lock
        assert not await leader.held()  # it finds its session gone, and the lock taken
    finally:
        await leader.release()
        await standby.release()


async def test_a_job_runs_only_where_its_leader_is(database_url: str) -> None:
    runs: list[str] = []

    def job(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            runs.append(name)

        return run

    a, b = LeaderLease(database_url, "prune"), LeaderLease(database_url, "prune")
    try:
        for _ in range(3):
            await leader_only(a, job("a"))()
            await leader_only(b, job("b"))()
        assert runs == ["a", "a", "a"]
    finally:
        await a.release()
        await b.release()

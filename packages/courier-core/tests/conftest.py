import pytest

from courier_core.testing import FakeClock, InMemoryStore, Services, build_services


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(clock: FakeClock) -> Services:
    return build_services(InMemoryStore(clock))

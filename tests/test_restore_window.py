"""DEPLOYBOT_RESTORE_WINDOW and an environment's database: the reaper keeps it (not reported as an orphan)
until the window after the tear down is over, then drops it; with no window at once, as before. The
reaper runs against moto with the Beanstalk simulator, the databases on a real PostgreSQL server."""
# ruff: noqa: F811 - pytest hands the imported fixtures to the tests by name
from __future__ import annotations

from datetime import timedelta

import pytest

from deployer.databases import Databases
from deployer.lifecycle.reaper import Reaper, kept_for_restore
from tests.test_databases import server  # noqa: F401 - the fixture: a server of its own, an operator's
from tests.test_reaper import DAY, HOUR, NOW, Account, account, expired_tags  # noqa: F401 - the fixture
from tests.world.postgres import admin_url

SHA = "a1" * 20


@pytest.fixture
def databases(server, account):
    made = Databases(admin_url(server), account.store, clock=lambda: NOW)
    yield made
    for record in account.store.databases():  # each test leaves the shared server as it found it
        made.drop(record.env_name)


def reaper(account: Account, databases: Databases, window: timedelta) -> Reaper:
    return Reaper(account.provider, account.store, lambda: account.clock(), account.claims,
                  databases=lambda: databases, restore_window=window)


def with_database(account: Account, databases: Databases, name: str) -> str:
    """An expired environment with its database, whose last deploy ran SHA."""
    env_id = account.create(name, expired_tags(name))
    account.manager.remember(account.manager.get(env_id))
    account.store.record_deployed_commit(env_id, SHA)
    databases.ensure(name)
    return env_id


def test_a_torn_down_environments_database_is_kept_for_the_window_and_dropped_after_it(account, databases):
    env_id = with_database(account, databases, "old-feature")
    databases.ensure("stray")  # deploybot's, but no tear down of it on record
    passes = reaper(account, databases, 7 * DAY)

    first = passes.run()
    assert [d.env.id for d in first.terminated] == [env_id]
    assert first.databases_dropped == [] and first.orphan_databases == ["deploybot_stray"]
    assert account.store.database("old-feature") is not None
    assert kept_for_restore(account.store, NOW, 7 * DAY) == {"old-feature": frozenset({SHA})}

    account.clock = lambda: NOW + 7 * DAY - HOUR
    waiting = passes.run()
    assert waiting.databases_dropped == [] and waiting.orphan_databases == ["deploybot_stray"]
    assert account.store.recall(env_id).cleaned_at is None

    account.clock = lambda: NOW + 7 * DAY + HOUR  # the pass after the window
    over = passes.run()
    assert over.databases_dropped == ["old-feature"] and over.orphan_databases == ["deploybot_stray"]
    assert account.store.database("old-feature") is None
    assert account.store.recall(env_id).cleaned_at == NOW + 7 * DAY + HOUR
    assert kept_for_restore(account.store, NOW + 7 * DAY + HOUR, 7 * DAY) == {}


def test_with_no_restore_window_the_database_goes_at_the_tear_down_as_before(account, databases):
    env_id = with_database(account, databases, "old-feature")
    account.store.replace_overrides("old-feature", {"GREETING": "hi"})

    report = reaper(account, databases, timedelta(0)).run()

    assert [d.env.id for d in report.terminated] == [env_id]
    assert report.databases_dropped == ["old-feature"] and report.orphan_databases == []
    gone = account.store.recall(env_id)
    assert gone.cleaned_at == NOW and gone.kept_overrides == {"GREETING": "hi"}
    assert account.store.overrides_of("old-feature") == {}
    assert kept_for_restore(account.store, NOW, timedelta(0)) == {}

"""What a deploybot.yml changes in a Beanstalk environment's configuration. Pure."""
import pytest

from deployer.errors import InvalidRequest
from deployer.providers.beanstalk.variables import (
    ENV_NAMESPACE, HEALTH_CHECK, MANAGED, MAX_PROPERTIES_BYTES, configuration_changes,
)


def _env(**properties: str) -> dict:
    return {(ENV_NAMESPACE, name): value for name, value in properties.items()}


def test_new_variables_are_set_with_the_record_of_what_deploybot_set():
    changes, removals = configuration_changes(_env(SHARED="from the saved configuration"), {"A": "1", "B": "2"},
                                              "/healthz")
    assert changes == {**_env(A="1", B="2", **{MANAGED: "A,B"}), HEALTH_CHECK: "/healthz"} and removals == []


def test_nothing_changes_when_the_environment_runs_them_already():
    current = {**_env(A="1", **{MANAGED: "A"}), HEALTH_CHECK: "/healthz"}
    assert configuration_changes(current, {"A": "1"}, "/healthz") == ({}, [])
    assert configuration_changes({}, {}, None) == ({}, [])


def test_a_variable_the_branch_dropped_goes_and_the_saved_configurations_stay():
    current = _env(SHARED="x", A="1", B="2", **{MANAGED: "A,B"})
    changes, removals = configuration_changes(current, {"A": "1"}, None)
    assert changes == _env(**{MANAGED: "A"}) and removals == [(ENV_NAMESPACE, "B")]


def test_more_than_beanstalk_takes_is_refused_before_anything_changes():
    big = {f"V{i}": "x" * 300 for i in range(14)}
    with pytest.raises(InvalidRequest, match=f"Beanstalk allows {MAX_PROPERTIES_BYTES:,} in all"):
        configuration_changes(_env(SHARED="y" * 100), big, None)

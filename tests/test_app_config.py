"""deploybot.yml: the model, its messages (the line and what to write), substitutions and the schema. Pure."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from deployer.app_config import EXAMPLE, FACTS, NO_CONFIG, AppConfig, json_schema, parse, render_env
from deployer.errors import AppConfigInvalid

ROOT = Path(__file__).resolve().parents[1]


def _refusal(text: str) -> str:
    with pytest.raises(AppConfigInvalid) as caught:
        parse(text)
    return caught.value.message


def test_the_example_in_the_issue_and_the_readme_is_valid():
    config = parse(EXAMPLE)
    assert config.port == 8080 and config.health_check_path == "/healthz"
    assert config.env == {"PUBLIC_URL": "{url}", "GREETING": "hello {feature}"}
    assert config.secrets == {"API_KEY": "/deploybot/{feature}/API_KEY"}
    assert config.database is not None and config.database.template == "shop_seed"
    assert config.database.env == "DATABASE_URL" and config.release == "./manage.py migrate"
    assert config.release_timeout == timedelta(minutes=10)
    assert config.variables_named() == {"PUBLIC_URL", "GREETING", "API_KEY", "DATABASE_URL"}


def test_no_file_or_an_empty_one_changes_nothing():
    assert parse(None) is NO_CONFIG and parse("") == NO_CONFIG and parse("# nothing yet\n") == NO_CONFIG
    assert parse("database: {}").database.template is None  # an empty database of its own


def test_yaml_numbers_and_booleans_are_a_variables_text():
    assert parse("env:\n  WORKERS: 4\n  DEBUG: true\n  RATIO: 1.5\n").env == {
        "WORKERS": "4", "DEBUG": "true", "RATIO": "1.5"}


@pytest.mark.parametrize("text, said", [
    ("port: 8080\nenv:\n  OK: x\n  9LIVES: y\n", "deploybot.yml, line 4: `env.9LIVES`: a variable name is letters"),
    ("port: 8080\nenv:\n  URL: \"{host}\"\n", "deploybot.yml, line 3: `env.URL`: `{host}` is not one of `{feature}`"),
    ("health_check_path: healthz\n", "line 1: `health_check_path`: write a path that starts with `/`"),
    ("port: 80\nenvs:\n  A: b\n", "line 2: `envs`: deploybot does not know this key; the keys are port,"),
    ("port: 70000\n", "line 1: `port`: Input should be less than or equal to 65535"),
    ("database:\n  template: shop\n  name: x\n", "line 3: `database.name`: deploybot does not know this key"),
    ("secrets:\n  DEPLOYBOT_COMMIT: /deploybot/x\n", "`secrets`: DEPLOYBOT_COMMIT is set by deploybot itself"),
    ("release_timeout: 3h\n", "`release_timeout`: 3h is outside 10s to 1h"),
    ("env:\n  A: \"{\"\n", "line 2: `env.A`: a lone `{` or `}`: write `{{` or `}}` for a brace"),
    ("env: [\n", "is not valid YAML"),
    ("- port: 1\n", "must be a mapping of keys"),
])
def test_a_wrong_file_is_answered_with_its_line_and_what_to_write(text, said):
    assert said in _refusal(text)


def test_the_answer_shows_a_valid_file():
    with pytest.raises(AppConfigInvalid) as caught:
        parse("port: x\n")
    assert caught.value.details[0] == "A valid deploybot.yml, every key optional:"
    assert "\n".join(caught.value.details[1:]) + "\n" == EXAMPLE


def test_the_environments_facts_replace_their_names_and_doubled_braces_stay_braces():
    facts = {"feature": "feature/x", "url": "https://x.example", "commit": "4f305ed8", "environment": "shop-x"}
    assert set(facts) == set(FACTS)
    assert render_env({"A": "{url}/api", "B": "{feature}@{commit} {{literal}}", "C": "plain"}, facts) == {
        "A": "https://x.example/api", "B": "feature/x@4f305ed8 {literal}", "C": "plain"}


def test_the_published_schema_is_the_models():
    assert (ROOT / "docs" / "deploybot.schema.json").read_text() == json_schema(), (
        "docs/deploybot.schema.json is out of date: run .venv/bin/python scripts/app_config_schema.py")
    schema = json.loads(json_schema())
    assert set(schema["properties"]) == set(AppConfig.model_fields) and schema["additionalProperties"] is False


# Anything a branch may push: the answer is a valid config or a message naming what is wrong, never a traceback.
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=12), inner, max_size=3), max_leaves=8)
_keys = st.sampled_from([*AppConfig.model_fields, "envs", "Port", "database", "env"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5))
def test_any_mapping_gives_a_config_or_a_message_with_its_line(data):
    text = yaml.safe_dump(data)
    try:
        parse(text)
    except AppConfigInvalid as error:
        assert error.message.startswith("deploybot.yml, line ") and error.message.endswith("."), error.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_a_message(text):
    try:
        parse(text)
    except AppConfigInvalid as error:
        assert error.message.startswith("deploybot.yml") and "Traceback" not in error.message


def test_the_readme_and_the_reference_show_the_example_the_tests_use():
    for doc in ("README.md", "docs/deploybot-yml.md"):
        text = (ROOT / doc).read_text()
        shown = "\n".join(line.removeprefix("  ") for line in text.splitlines()) + "\n"  # the README indents it
        assert EXAMPLE in text or EXAMPLE in shown, doc

"""The schema is the one declaration of devbox.yml's keys: the README's reference tables are
generated from it (and must be in the README exactly as generated), and every declared key
follows the same rules for null and for typos."""

import textwrap
from pathlib import Path

import pytest

from devbox import config
from devbox.config import schema
from devbox.errors import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"
TOP_LEVEL = [k for k in schema.TOP.keys.values() if not k.expand]
NESTED = [(k.name, sub) for k in schema.TOP.keys.values() if k.expand and k.name != "compose"
          for sub in k.section.keys.values()]


@pytest.mark.parametrize("section", ["TOP", "SERVICE"])
def test_the_readme_shows_the_reference_table_generated_from_the_schema(section):
    table = schema.reference_table(getattr(schema, section))
    assert table in README.read_text(), (
        f"README.md's devbox.yml reference differs from the schema; paste this table:\n{table}")


def test_every_key_in_the_tables_has_a_doc():
    for section in (schema.TOP, schema.SERVICE, schema.WATCH, schema.RELOAD, schema.COMPOSE):
        for key in section.keys.values():
            assert key.doc or key.expand, key.name


def load(tmp_path, text):
    (tmp_path / "devbox.yml").write_text(textwrap.dedent(text))
    return config.load(tmp_path / "devbox.yml", cwd=tmp_path, environ={})


@pytest.mark.parametrize("key", [k.name for k in TOP_LEVEL if k.name not in ("app", "command", "listen")])
def test_a_null_top_level_key_means_its_default(tmp_path, key):
    assert load(tmp_path, f"app: a:b\n{key}:\n") == load(tmp_path, "app: a:b\n")


@pytest.mark.parametrize("section, key", [(s, k.name) for s, k in NESTED])
def test_a_null_nested_key_means_its_default(tmp_path, section, key):
    assert load(tmp_path, f"app: a:b\n{section}:\n  {key}: null\n") == load(tmp_path, "app: a:b\n")


@pytest.mark.parametrize("section, key", [(s, k.name) for s, k in NESTED])
def test_the_declared_default_is_the_loaded_default(tmp_path, section, key):
    declared = schema.TOP.keys[section].section.keys[key].default
    assert getattr(getattr(load(tmp_path, "app: a:b\n"), section), key) == declared


@pytest.mark.parametrize("key", [k.name for k in TOP_LEVEL if len(k.name) > 4])
def test_a_misspelt_top_level_key_is_named_with_the_right_one(tmp_path, key):
    typo = key[:-1]
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"app: a:b\n{typo}: x\n")
    assert (info.value.problem, info.value.hint) == (f"unknown key '{typo}'", f"did you mean '{key}'?")
    assert (info.value.file, info.value.line, info.value.key) == ("devbox.yml", 2, typo)


def test_nested_keys_are_checked_against_their_own_section(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "app: a:b\nreload:\n  warm: true\n  overlapp: false\n")
    assert str(info.value) == "devbox.yml:4: unknown key 'reload.overlapp' (did you mean 'overlap'?)"
    assert info.value.key == "reload.overlapp"


def test_a_service_may_not_set_debounce_ms(tmp_path):
    (tmp_path / "compose.yml").write_text("services: {web: {image: x}}\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "compose:\n  services:\n    web:\n      app: a:b\n      watch: {debounce_ms: 5}\n")
    assert info.value.message.startswith("devbox.yml:5: unknown key 'compose.services.web.watch.debounce_ms'")

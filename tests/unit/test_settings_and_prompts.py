import pytest

from medgrid.settings import Settings, SettingsError, confine_path
from services.prompts import build_prompt


def test_settings_parse_strictly_and_name_the_variable(tmp_path):
    settings = Settings.from_env({"MEDGRID_SHARD_SIZE": "16", "MEDGRID_TRUST_REMOTE_CODE": "no",
                                  "MEDGRID_HOME": str(tmp_path)})
    assert settings.shard_size == 16 and settings.trust_remote_code is False
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'medgrid.sqlite3'}"
    for name, value in [("MEDGRID_SHARD_SIZE", "0"), ("MEDGRID_SHARD_SIZE", "many"), ("MEDGRID_PROGRESS", "maybe"),
                        ("MEDGRID_DATABASE_URL", "mysql://x"), ("MEDGRID_PROMPT_STYLE", "chatty"),
                        ("MEDGRID_API_WRITE_TOKENS", "short")]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})


def test_data_paths_are_confined_to_the_roots(tmp_path):
    inside = tmp_path / "data" / "slake"
    inside.mkdir(parents=True)
    settings = Settings.from_env({"MEDGRID_DATA_ROOTS": str(tmp_path / "data")})
    assert confine_path(inside, settings) == inside.resolve()
    with pytest.raises(PermissionError, match="outside the allowed data roots"):
        confine_path(tmp_path / "data" / ".." / "elsewhere", settings)


def test_prompts_list_options_once():
    sample = {"question": "Q?\nAnswer Choices: (A) x (B) y", "answer_type": "mcq", "closed_kind": None,
              "options": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}], "meta": {}}
    assert "A. x" in build_prompt(sample, "reasoning") and "\\boxed{}" in build_prompt(sample, "reasoning")
    sample["meta"] = {"options_in_question": True}
    assert build_prompt(sample, "direct").count("x") == 1

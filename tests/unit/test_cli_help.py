"""`--help` shows the defaults an option takes from the configuration, as the configuration files
give them (read here without the command's code)."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.config import DEFAULT_CONF_DIR

runner = CliRunner()
BASE = yaml.safe_load((DEFAULT_CONF_DIR / "base.yaml").read_text())
LOCAL = yaml.safe_load((DEFAULT_CONF_DIR / "local.yaml").read_text()) or {}


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_generate_help_shows_the_generators_defaults() -> None:
    shown = _help("generate")
    generator = {**BASE["generator"], **LOCAL.get("generator", {})}
    for key in ("scale", "seed", "days"):
        assert f"[default: (generator.{key}: {generator[key]})]" in shown, key


def test_global_options_show_their_defaults() -> None:
    shown = _help()
    kind = LOCAL.get("engine", {}).get("kind", BASE["engine"]["kind"])
    assert "[default: (LAKEHOUSE_ENV, else local)]" in shown
    assert f"[default: (LAKEHOUSE_ENGINE, else engine.kind: {kind})]" in shown
    assert f"[default: (LAKEHOUSE_DATA_DIR, else data_dir: {BASE['data_dir']})]" in shown

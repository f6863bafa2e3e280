"""``troupe list-strategies``, ``troupe new-strategy`` (whose template's own test passes), and
``check-config`` refusing a bad strategy entry."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from actors.strategies import BUILT_INS
from troupe.cli import main


def test_list_strategies_prints_each_rule_and_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-strategies"]) == 0

    out = capsys.readouterr().out
    for name, strategy in BUILT_INS.items():
        assert f"{name}: {strategy.summary}" in out
    assert "fast (int) = 10" in out and "slow (int) = 30" in out
    assert "ma ('sma' | 'ema') = 'sma'" in out or "ma (" in out
    assert "fast[t-1] <= slow[t-1]" in out


def test_new_strategy_writes_a_template_whose_test_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-strategy", "my_breakout", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "my_breakout.py").is_file()

    sys.path.insert(0, str(tmp_path))
    try:
        test_module = importlib.import_module("test_my_breakout")
        test_module.test_a_close_above_the_range_is_a_buy_signal()
        strategy_module = importlib.import_module("my_breakout")
        from actors.strategies import strategy_class  # noqa: PLC0415

        assert strategy_class("my_breakout:MyBreakout") is strategy_module.MyBreakout
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("test_my_breakout", None)
        sys.modules.pop("my_breakout", None)

    # No silent overwrite; names that are no module or a built-in are refused.
    assert main(["new-strategy", "my_breakout", "--dir", str(tmp_path)]) == 2
    assert main(["new-strategy", "My-Breakout", "--dir", str(tmp_path)]) == 2
    assert main(["new-strategy", "sma_cross", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "exists; pass --force" in err and "'My-Breakout'" in err and "built-in" in err


def test_check_config_refuses_a_bad_strategy_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[strategies]]\nuse = "sma_cross"\nparams = { fast = 50 }\n')

    assert main(["check-config", "-c", str(path)]) == 2

    err = capsys.readouterr().err
    assert "strategies[0].params" in err and "50" in err

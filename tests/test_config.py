"""Configuration: merging, environment overrides, secrets, and one exact line per problem."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine.config.load import ConfigError, load_config
from engine.config.render import effective_toml, starter_toml
from engine.config.schema import TroupeConfig
from engine.config.secrets import Secret, load_secrets
from troupe.cli import main

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BAD_CONFIGS = [
    ('[web]\nport = "eighty"\n', 'web.port: expected an integer within [1, 65535], got "eighty"'),
    ("[web]\nport = 70000\n", "web.port: expected an integer within [1, 65535], got 70000"),
    ('mode = "yolo"\n', 'mode: expected one of "backtest", "live", "paper", got "yolo"'),
    (
        "[web]\nprot = 8080\n",
        "web.prot: unknown key; allowed: cors_origins, host, mutations_per_minute, "
        "orders_per_minute, port, token_file, ws_flush_ms, ws_heartbeat_s, ws_queue, "
        "ws_requires_token",
    ),
    ("[log]\nlevel = 3\n", 'log.level: expected one of "debug", "error", "info", "warning", got 3'),
    ('[log]\nconsole = "yes"\n', 'log.console: expected true or false, got "yes"'),
    ("[shutdown]\ntimeout_s = 0\n", "shutdown.timeout_s: expected a number > 0, got 0"),
    ("[shutdown]\ntimeout_s = nan\n", "shutdown.timeout_s: expected a number > 0, got NaN"),
    ("[ranker]\nmin_score = nan\n", "ranker.min_score: expected a number, got NaN"),
    ('[web]\ncors_origins = "*"\n', 'web.cors_origins: expected a list of (a string), got "*"'),
    ("[web]\ncors_origins = [1]\n", "web.cors_origins[0]: expected a string, got 1"),
    ("web = 5\n", "web: expected a table, got 5"),
    (
        '[web]\napi_token = "abc"\n',
        "web.api_token: secrets may not be kept in a config file; set them in the environment "
        "or a secrets file (see the README)",
    ),
    (
        "[runtime.pools]\nstrategies = 0\n",
        "runtime.pools.strategies: expected an integer >= 1, got 0",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_each_bad_config_gets_its_exact_line_and_status_2(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "paper.toml", text)

    status = main(["check-config", "-c", str(path)])

    assert status == 2
    assert capsys.readouterr().err.splitlines() == [f"{path}: {message}"]


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "paper.toml", '[web]\nport = "x"\nhost = 1\n[log]\nlevel = "loud"\n')

    with pytest.raises(ConfigError) as error:
        load_config([path], env={})

    assert [p.split(": ")[1] for p in error.value.problems] == ["web.port", "web.host", "log.level"]


def test_unreadable_and_malformed_files_name_the_file(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.toml", "[web\n")

    with pytest.raises(ConfigError) as error:
        load_config([tmp_path / "missing.toml", broken], env={})

    missing, malformed = error.value.problems
    assert missing == f"{tmp_path / 'missing.toml'}: no such file"
    assert malformed.startswith(f"{broken}: not valid TOML: ")


def test_files_merge_in_order_and_the_environment_wins(tmp_path: Path) -> None:
    base = write(tmp_path, "base.toml", '[web]\nport = 9000\nhost = "127.0.0.2"\n')
    local = write(tmp_path, "local.toml", "[web]\nport = 9100\n")
    env = {"TROUPE__WEB__CORS_ORIGINS": '["http://localhost:3000"]', "TROUPE__LOG__LEVEL": "debug"}

    config = load_config([base, local], env=env)

    assert (config.web.host, config.web.port) == ("127.0.0.2", 9100)
    assert config.web.cors_origins == ["http://localhost:3000"]
    assert config.log.level == "debug"


def test_a_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config([], env={"TROUPE__WEB__PORT": "eighty"})

    assert error.value.problems == [
        "environment TROUPE__WEB__PORT: web.port: expected an integer within [1, 65535], "
        'got "eighty"'
    ]


def test_the_problem_names_the_file_that_set_the_value(tmp_path: Path) -> None:
    good = write(tmp_path, "a.toml", "[web]\nport = 9000\n")
    bad = write(tmp_path, "b.toml", "[log]\nbackups = -1\n")

    with pytest.raises(ConfigError) as error:
        load_config([good, bad], env={})

    assert error.value.problems == [f"{bad}: log.backups: expected an integer >= 0, got -1"]


def test_defaults_need_no_file() -> None:
    assert load_config([], env={}) == TroupeConfig()


def test_starter_file_documents_every_key_and_loads_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "starter.toml"

    assert main(["new-config", str(path)]) == 0

    text = path.read_text()
    assert "# Allowed: an integer within [1, 65535]." in text
    assert load_config([path], env={}) == TroupeConfig()
    assert main(["new-config", str(path)]) == 2  # no silent overwrite
    assert main(["new-config", str(path), "--force"]) == 0


def test_effective_config_is_valid_toml_and_round_trips(tmp_path: Path) -> None:
    config = load_config([], env={"TROUPE__WEB__PORT": "9001"})
    path = write(tmp_path, "effective.toml", effective_toml(config))

    assert tomllib.loads(path.read_text())["web"]["port"] == 9001
    assert load_config([path], env={}) == config


def test_shipped_configs_are_valid() -> None:
    for path in sorted((ROOT / "config").glob("*.toml")):
        if path.name.startswith("backtest."):
            continue  # a backtest's file: tests/test_backtest_config.py checks it
        load_config([path], env={})
    assert starter_toml()  # and the starter renders


def test_secrets_come_from_the_environment_and_a_private_file(tmp_path: Path) -> None:
    secrets_file = write(
        tmp_path, "secrets.toml", 'api_token = "from-file"\n[brokers.zerodha]\napi_key = "k1"\n'
    )
    secrets_file.chmod(0o600)

    from_file = load_secrets({"TROUPE_SECRETS_FILE": str(secrets_file)})
    both = load_secrets({"TROUPE_SECRETS_FILE": str(secrets_file), "TROUPE_API_TOKEN": "env"})

    assert from_file.api_token == Secret("from-file")
    assert from_file.brokers["zerodha"]["api_key"].reveal() == "k1"
    assert both.api_token == Secret("env")  # the environment wins
    assert "k1" not in repr(from_file) and "from-file" not in str(from_file.redacted())


def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path) -> None:
    secrets_file = write(tmp_path, "secrets.toml", 'api_token = "x"\n')
    secrets_file.chmod(0o644)

    with pytest.raises(ConfigError) as error:
        load_secrets({"TROUPE_SECRETS_FILE": str(secrets_file)})

    assert error.value.problems == [
        f"{secrets_file}: a secrets file must be readable by its owner only, got mode 0644; "
        f"run: chmod 600 {secrets_file}"
    ]


def test_check_config_never_prints_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TROUPE_API_TOKEN", "s3cr3t-value")

    assert main(["check-config"]) == 0

    out = capsys.readouterr().out
    assert "s3cr3t-value" not in out
    assert "api_token = *** (from environment TROUPE_API_TOKEN)" in out


def test_the_real_command_exits_2_on_a_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, "paper.toml", '[web]\nport = "eighty"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE")}

    done = subprocess.run(
        [sys.executable, "-m", "troupe", "run", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f'{path}: web.port: expected an integer within [1, 65535], got "eighty"'
    ]

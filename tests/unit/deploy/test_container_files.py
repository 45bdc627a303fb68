"""Checks of the container files that run here without a Docker engine.

What they prove: the compose file is valid Compose, every COURIER_* variable it sets is one courier
reads (and well-formed), every command it runs exists in the image, shutdown has time to finish,
Prometheus' config and rules load, and CI runs the same make targets as `.ci/run`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from courier_adapters.settings import load_settings, parse_duration, variables

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COURIER_IMAGE = "courier:local"


def courier_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in COMPOSE["services"].items() if s.get("image") == COURIER_IMAGE}


def console_scripts() -> set[str]:
    scripts: set[str] = set()
    for pyproject in ROOT.glob("*/*/pyproject.toml"):
        scripts |= set(tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {}))
    return scripts


def dockerfile_instruction(name: str) -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(?:--\S+\s+)*(?:CMD\s+)?(\[.*\])\s*$", text, re.M)
    assert found, f"no {name} in the Dockerfile"
    return list(json.loads(found[-1]))


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((ROOT / "deploy/schema/compose-spec.json").read_text())
    # The schema names draft 2019-09 but is written in draft-07 terms (its `id`s).
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_sets_only_courier_variables_that_courier_reads() -> None:
    known = variables()
    for name, service in courier_services().items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        courier_vars = {k: v for k, v in env.items() if k.startswith("COURIER_")}
        unknown = set(courier_vars) - set(known)
        assert not unknown, f"{name} sets variables courier does not read: {unknown}"
        load_settings(courier_vars, dotenv=None)  # raises, naming the variable, when malformed


def test_stop_grace_periods_outlast_the_shutdown_timeout() -> None:
    for name, service in courier_services().items():
        timeout = parse_duration(str(service["environment"].get("COURIER_SHUTDOWN_TIMEOUT", "30s")))
        grace = parse_duration(service["stop_grace_period"])
        assert grace >= max(35.0, timeout + 5), name


def test_every_command_of_the_image_exists() -> None:
    scripts = console_scripts() | {"python"}
    commands = [dockerfile_instruction("CMD")] + [s["command"] for s in courier_services().values()]
    for command in commands:
        assert command[0] in scripts, f"{command[0]} is not a console script of the workspace"
    healthchecks = [dockerfile_instruction("HEALTHCHECK")] + [
        s["healthcheck"]["test"][1:]
        for s in courier_services().values()
        if "test" in s.get("healthcheck", {})
    ]
    for check in healthchecks:
        assert check[:2] == ["python", "-m"], check  # no curl in the image
        assert find_spec(check[2]) is not None, f"module {check[2]} is missing"


@pytest.mark.parametrize("service", sorted(n for n, s in courier_services().items() if len(s["command"]) > 1))
def test_the_arguments_given_to_each_command_are_accepted(service: str) -> None:
    """``--help`` of the command (and its subcommands) lists every option compose passes."""
    command = courier_services()[service]["command"]
    executable = shutil.which(command[0])
    assert executable is not None, f"{command[0]} is not installed"
    options = [w for w in command[1:] if w.startswith("--")]
    subcommands = [] if options else command[1:]
    help_text = subprocess.run(
        [executable, *subcommands, "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for option in options:
        assert option in help_text, f"{service}: {command[0]} does not accept {option}"


def test_the_workflow_runs_the_same_make_targets_as_ci_run() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    steps = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    in_workflow = set(re.findall(r"\bmake ([\w-]+)", "\n".join(steps)))
    in_ci_run = set(re.findall(r"^\s*make ([\w-]+)", (ROOT / ".ci/run").read_text(), re.M))
    assert in_ci_run and in_workflow == in_ci_run


def test_the_dockerfile_is_multi_stage_non_root_and_frozen() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert re.search(r"^USER courier$", text, re.M)
    assert "uv sync --frozen --no-dev" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI (apt-get install prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_prometheus_config_and_alert_rules_load() -> None:
    tool = promtool()
    for check, path in (("config", "prometheus.yml"), ("rules", "alerts.yml")):
        result = subprocess.run(
            [tool, "check", check, str(ROOT / "deploy/prometheus" / path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_finds_consumer_replicas_by_dns() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["courier-consumer"]["dns_sd_configs"][0]["names"] == ["consumer"]
    assert COMPOSE["services"]["consumer"]["deploy"]["replicas"] == 2


def test_the_image_carries_oci_labels_and_the_license_it_names() -> None:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    labels = " ".join(re.findall(r"^LABEL\s+(.*)$", text, re.M))
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.licenses="MIT"' in labels
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")

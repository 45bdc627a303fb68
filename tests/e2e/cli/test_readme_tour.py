"""The README's tour, run as written in a fresh shell, against a ``courier dev up`` started for it.

Every command block of the tour (the ``curl`` blocks and the ``$ courier …`` block) is taken from
README.md as it stands; only the ports and the data directory are the test stack's. The commands run one
after another in one bash, whose PATH has neither uv nor the virtual environment's bin (a fresh shell's),
so ``courier`` is found only after the README's ``source .venv/bin/activate``. Each answer is compared
with the expected output the README shows under its command (``# …`` lines after a curl, the lines
after a ``$`` command), with timestamps normalised, runs of spaces collapsed, table borders left out and
``…`` standing for anything on its line; a command with nothing shown under it must print nothing. The
exit code must be 0, or the one its comment names (``# exit 1``). The simulator runs at the rate
``make run`` gives it (0.5 orders/s), as a user would find it, and the commands are paced like a
person's (the API's rate limit, 10 then 5/s, applies). The live stream (``curl -N``) is the one command
left out: it never ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import COURIER, descendants, free_port, mentioning, wait_until_gone

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[3] / "README.md"
VENV = Path(sys.executable).parent.parent
START_BUDGET = 240.0
PACE = 0.25  # seconds after each curl: the API's bucket refills 5 tokens/s
MARK = "@@readme-tour"

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
BORDER = re.compile(r"^[\s┏┓┗┛┡┩└┘┌┐━─┳┻╇╈┬┴┼╋]*$")
EXIT = re.compile(r"\bexit (\d+)\b(?! if)")
HEREDOC = re.compile(r"<<-?'?(\w+)'?")


@dataclass
class Step:
    """One command of the README and what it shows under it."""

    command: str
    kind: str  # "curl": a bash block's line; "cli": a "$ " line
    expected: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        comment = self.command.splitlines()[0].partition(" #")[2]
        found = EXIT.search(comment)
        return int(found.group(1)) if found else 0


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    return [
        (lang, body.splitlines()) for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)
    ]


def _bash_steps(lines: list[str]) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for line in lines:
        if line.startswith("#"):
            if steps[-1].expected:  # a continuation of the answer shown: joined to it
                steps[-1].expected[0] += line[1:].strip()
            else:
                steps[-1].expected.append(line[1:].strip())
        elif line.strip():
            if continued:
                steps[-1].command += "\n" + line
            else:
                steps.append(Step(line, "curl"))
            continued = line.rstrip().endswith("\\")
    return steps


def _dollar_steps(lines: list[str]) -> list[Step]:
    steps: list[Step] = []
    delimiter: str | None = None
    for line in lines:
        if delimiter is not None:
            steps[-1].command += "\n" + line
            if line == delimiter:
                delimiter = None
        elif line.startswith("$ "):
            steps.append(Step(line[2:], "cli"))
            if here := HEREDOC.search(line):
                delimiter = here.group(1)
        else:
            steps[-1].expected.append(line)
    return steps


def tour(text: str) -> tuple[list[Step], list[Step]]:
    """The tour's steps in README order, and those left out (the live stream)."""
    steps: list[Step] = []
    for lang, lines in _blocks(text):
        if any(line.startswith("$ ") for line in lines):
            steps += _dollar_steps(lines)
        elif lang == "bash" and any(line.startswith("curl ") and "localhost:8080" in line for line in lines):
            steps += _bash_steps(lines)
    left_out = [s for s in steps if s.command.startswith("curl -N ")]
    return [s for s in steps if s not in left_out], left_out


def _normal(text: str) -> str:
    return re.sub(r"[ \t]+", " ", TIMESTAMP.sub("<time>", text)).strip()


def _lines(text: str) -> list[str]:
    return [_normal(line) for line in text.splitlines() if line.strip() and not BORDER.match(line)]


def _matches(expected: str, actual: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in _normal(expected).split("…"))
    return re.fullmatch(pattern, actual) is not None


def differences(step: Step, output: str, code: int) -> list[str]:
    """What differs between the README's ``step`` and what it did (empty: nothing)."""
    problems = []
    if code != step.exit_code:
        problems.append(f"exit code {code}, the README says {step.exit_code}")
    if step.kind == "curl":
        expected, actual = [_normal(e) for e in step.expected], [_normal(output)] if output.strip() else []
    else:
        expected, actual = _lines("\n".join(step.expected)), _lines(output)
    if len(expected) != len(actual) or not all(map(_matches, expected, actual)):
        problems.append("answer differs:\n  README: " + "\n          ".join(expected or ["(nothing)"]))
        problems.append("  actual: " + "\n          ".join(actual or ["(nothing)"]))
    return problems


def _fresh_path() -> str:
    """This machine's PATH without the virtual environment and wherever uv or courier is."""
    keep = []
    for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        found = [(Path(entry) / name).exists() for name in ("uv", "courier")]
        if entry and not any(found) and Path(entry).resolve() != (VENV / "bin").resolve():
            keep.append(entry)
    return os.pathsep.join(keep)


@dataclass
class Stack:
    process: subprocess.Popen[str]
    data_dir: Path
    api: int
    broker: int
    control: int
    log: Path

    def rewrite(self, command: str) -> str:
        """The README's command, with the test stack's ports and this checkout's environment."""
        command = command.replace("localhost:8080", f"localhost:{self.api}")
        command = command.replace("localhost:50052", f"localhost:{self.control}")
        command = command.replace("127.0.0.1:50052", f"127.0.0.1:{self.control}")
        command = command.replace("127.0.0.1:9092", f"127.0.0.1:{self.broker}")
        return command.replace("source .venv/bin/activate", f"source {VENV}/bin/activate")


def _wait_ready(stack: Stack) -> None:
    deadline = time.monotonic() + START_BUDGET
    while "Ctrl-C stops everything" not in stack.log.read_text():
        assert stack.process.poll() is None, stack.log.read_text()
        assert time.monotonic() < deadline, stack.log.read_text()
        time.sleep(0.3)


@pytest.fixture
def stack(tmp_path: Path, embedded_dir: Path) -> Iterator[Stack]:
    """``courier dev up`` as ``make run`` starts it (0.5 orders/s), on free ports and its own data dir."""
    data_dir = embedded_dir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env.update(COURIER_DATA_DIR=str(data_dir), COURIER_SHUTDOWN_TIMEOUT="10s")
    api, broker, control = free_port(), free_port(), free_port()
    args = ["dev", "up", "--order-rate", "0.5", "--api-port", str(api), "--broker-port", str(broker)]
    args += ["--order-service-port", str(free_port()), "--control-port", str(control)]
    args += ["--metrics-port", str(free_port()), "--start-timeout", "120"]
    log = tmp_path / "dev-up.txt"
    with log.open("w") as out:
        process = subprocess.Popen(
            [COURIER, *args], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    up = Stack(process, data_dir, api, broker, control, log)
    try:
        _wait_ready(up)
        yield up
    finally:
        leftovers = descendants(process.pid) | mentioning(str(data_dir))
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in wait_until_gone(leftovers, timeout=10):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _script(steps: list[Step], stack: Stack) -> str:
    parts = ["exec 2>&1"]
    for number, step in enumerate(steps):
        parts.append(f"printf '%s\\n' '{MARK} {number}'")
        parts.append(stack.rewrite(step.command))
        parts.append(f"printf '\\n%s %s\\n' '{MARK}-rc' \"$?\"")
        if step.kind == "curl":
            parts.append(f"sleep {PACE}")
    return "\n".join(parts) + "\n"


def _outputs(text: str, count: int) -> list[tuple[str, int]]:
    found = re.findall(rf"^{MARK} (\d+)\n(.*?)\n{MARK}-rc (\d+)$", text, re.M | re.S)
    assert [int(n) for n, _, _ in found] == list(range(count)), text
    return [(output, int(code)) for _, output, code in found]


def test_the_readme_parser_finds_the_tour() -> None:
    steps, left_out = tour(README.read_text())
    commands = [s.command for s in steps]
    assert commands[0].startswith("curl -s -X POST localhost:50052/pause"), commands[:3]
    assert "source .venv/bin/activate" in [c.partition(" #")[0].strip() for c in commands]
    assert sum(s.kind == "cli" for s in steps) >= 15 and sum(s.kind == "curl" for s in steps) >= 20
    assert [s.command.split()[1] for s in left_out] == ["-N"]
    # Everything the README shows is compared: an answer that differs in one field is caught.
    assign = next(s for s in steps if "delivery/assign" in s.command and s.expected)
    good = '{"courier_id":1,"order_id":"f819526d-6a7c-48eb-b535-43989469d1ca","transport_type":"car",'
    good += '"delivery_deadline":"2026-12-03T11:48:23.781354Z"}'
    assert differences(assign, good, 0) == []
    assert differences(assign, good.replace('"courier_id":1', '"courier_id":2'), 0) != []
    assert differences(assign, good, 7) != []


def test_the_readme_tour_runs_as_written_in_a_fresh_shell(stack: Stack, tmp_path: Path) -> None:
    steps, _ = tour(README.read_text())
    # courier dev up says how to pause the simulator, as the README's "What make run starts" shows.
    shown = next(line for line in README.read_text().splitlines() if line.startswith("pause the order"))
    assert stack.rewrite(shown) in stack.log.read_text().splitlines(), stack.log.read_text()
    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": _fresh_path(), "LANG": "C.UTF-8"}
    env["COURIER_DATA_DIR"] = str(stack.data_dir)  # the README's .courier: the test stack's
    if "XDG_RUNTIME_DIR" in os.environ:
        env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    shell = tmp_path / "shell"
    shell.mkdir()
    fresh = subprocess.run(["bash", "-c", "command -v courier || command -v uv"], env=env, cwd=shell)
    assert fresh.returncode != 0, "the test's fresh shell finds courier or uv without the README's step"

    script = _script(steps, stack)
    (tmp_path / "tour.sh").write_text(script)
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", str(tmp_path / "tour.sh")],
        env=env,
        cwd=shell,
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = []
    for step, (output, code) in zip(steps, _outputs(done.stdout, len(steps)), strict=True):
        if found := differences(step, output, code):
            problems.append("$ " + step.command + "\n" + "\n".join(found))
    assert not problems, "README commands that failed or answered otherwise:\n\n" + "\n\n".join(problems)

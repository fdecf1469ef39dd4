"""One way in: the Makefile refuses a missing or unknown STACK before it builds anything, says in
one line when Python is too old, lists its variables, and the README's `python -m` commands run
as written. Each test runs make (dry runs, or refusals) in a copy of the Makefile and the files it
reads, so nothing here touches this repository's .venv or Pulumi state."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))  # fmt: skip
STACK_TARGETS = (
    *("plan", "preview", "up", "destroy", "import", "pulumi"),
    *("db-snapshot", "db-restore", "db-failover", "db-connect"),
    "release-rollback",
)


def copy_makefile(folder: Path) -> Path:
    """`folder` with the Makefile and the files it reads: stack files and the three requirements
    files."""
    for name in ["Makefile", "requirements.txt", *(f"Pulumi.{s}.yaml" for s in STACKS)]:
        shutil.copy(ROOT / name, folder / name)
    for sub in ("policy", "reference-app"):
        (folder / sub).mkdir()
        shutil.copy(ROOT / sub / "requirements.txt", folder / sub / "requirements.txt")
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The Makefile with the files it reads: stack files and requirements."""
    return copy_makefile(tmp_path)


def make(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """make in `repo`, as from a shell: not as a sub-make of the `make test` running this."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def files_in(repo: Path) -> set[Path]:
    return set(repo.rglob("*"))


def help_targets(repo: Path) -> list[str]:
    return re.findall(r"^  make (\S+)", make(repo, "help").stdout, re.M)


def test_help_lists_every_target_and_the_variables(repo: Path) -> None:
    out = make(repo, "help").stdout
    assert set(STACK_TARGETS) | {"install", "test"} <= set(help_targets(repo))
    variables = re.findall(r"^  ([A-Z_]+) {2,}\S", out, re.M)
    assert {"STACK", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "AWS_PROFILE"} <= set(variables)  # fmt: skip
    assert f"(stacks here: {' '.join(STACKS)})" in out


@pytest.mark.parametrize("target", STACK_TARGETS)
@pytest.mark.parametrize(
    "stack, message",
    [
        ("nope", "unknown STACK 'nope': the stacks are {stacks}"),
        ("dev prod", "unknown STACK 'dev prod': the stacks are {stacks}"),
        ("", "STACK is not set: make {target} STACK=<one of: {stacks}>"),
    ],
    ids=["unknown", "two", "missing"],
)
def test_a_bad_stack_is_refused_before_anything_is_made(
    target: str, stack: str, message: str, repo: Path
) -> None:
    before = files_in(repo)
    result = make(repo, target, f"STACK={stack}", "ARGS=stack output")
    assert result.returncode == 2
    assert result.stdout == ""
    expected = message.format(target=target, stacks=" ".join(STACKS))
    [line] = result.stderr.splitlines()
    assert expected in line
    assert files_in(repo) == before


def test_only_stack_targets_read_stack(repo: Path) -> None:
    """Every target either refuses an unknown STACK or never uses it: a new target that acts on
    a stack must join STACK_TARGETS."""
    for target in help_targets(repo):
        result = make(repo, "-n", target, "STACK=zz-unknown", "ARGS=stack output")
        if target in STACK_TARGETS:
            assert result.returncode == 2, target
            assert "unknown STACK 'zz-unknown'" in result.stderr
        else:
            assert result.returncode == 0, (target, result.stderr)
            assert "zz-unknown" not in result.stdout + result.stderr, target


@pytest.mark.parametrize(
    "args, command",
    [
        (("plan", "STACK=dev", "ARGS=--json"), ".venv/bin/python -m tooling.plan dev --json"),
        (("up", "STACK=prod", "ARGS=--refresh"), "pulumi up -s prod --policy-pack policy --policy-pack-config policy/config.prod.json --refresh"),
        (("preview", "STACK=staging"), "pulumi preview -s staging --policy-pack policy --policy-pack-config policy/config.staging.json"),
        (("pulumi", "STACK=dev", "ARGS=config set --path platform:network.natMode perAz"), "pulumi config set --path platform:network.natMode perAz --stack dev"),
        (("import", "STACK=prod", "ARGS=aws:guardduty/detector:Detector d abc"), "pulumi import -s prod aws:guardduty/detector:Detector d abc"),
    ],
    ids=["plan", "up", "preview", "pulumi", "import"],
)  # fmt: skip
def test_a_known_stack_runs_its_command(args: tuple[str, ...], command: str, repo: Path) -> None:
    result = make(repo, "-n", *args)
    assert result.returncode == 0, result.stderr
    assert command in [line.rstrip() for line in result.stdout.splitlines()]


@pytest.mark.parametrize("command", ["up", "update", "preview", "destroy", "import", "watch"])
def test_make_pulumi_refuses_what_skips_the_policy_pack(command: str, repo: Path) -> None:
    result = make(repo, "pulumi", "STACK=dev", f"ARGS={command} --yes")
    assert result.returncode == 2
    assert f"make pulumi does not run '{command}': use make preview, up or destroy" in result.stderr


def test_make_pulumi_needs_a_command(repo: Path) -> None:
    result = make(repo, "pulumi", "STACK=dev")
    assert result.returncode == 2
    assert "make pulumi needs the command in ARGS" in result.stderr


# An interpreter that is Python 3.9 as far as `make install` can tell: it runs the Makefile's
# check under the real interpreter with sys.version_info of 3.9.
OLD_PYTHON = f"""#!/bin/sh
case "$1" in
  -V|--version) echo "Python 3.9.18" ;;
  -c) exec {sys.executable} -c "import sys; sys.version_info = (3, 9, 18, 'final', 0); exec(sys.argv[1])" "$2" ;;
  *) exit 1 ;;
esac
"""


def test_python_older_than_3_11_is_a_one_line_error(repo: Path, tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text(OLD_PYTHON)
    old.chmod(0o755)
    result = make(repo, "install", f"PYTHON={old}")
    assert result.returncode == 2
    # One line of ours; make adds its own about the failed recipe.
    [line, made] = result.stderr.splitlines()
    assert line == (
        f"error: Python 3.11 or newer is needed: {old} is Python 3.9.18; "
        "run make install PYTHON=python3.11 (or newer)"
    )
    assert made.startswith("make: *** [Makefile:")
    assert not (repo / ".venv").exists()


def test_a_missing_python_is_a_one_line_error(repo: Path) -> None:
    result = make(repo, "install", "PYTHON=no-such-python3")
    assert result.returncode == 2
    [line, _] = result.stderr.splitlines()
    assert line.startswith("error: Python 3.11 or newer is needed: no-such-python3 is ")
    assert not (repo / ".venv").exists()


def test_readme_runs_python_modules_through_the_virtualenv() -> None:
    """`python -m` works only with the virtualenv active: the README names .venv/bin/python
    (which `make install` creates), and every module it runs exists."""
    readme = (ROOT / "README.md").read_text()
    bare = re.findall(r"(?<![/\w])python3? -m \S+", readme)
    assert bare == []
    modules = set(re.findall(r"\.venv/bin/python -m ([\w.]+)", readme))
    assert modules, "the README shows no module run"
    for module in sorted(modules):
        assert importlib.util.find_spec(module) is not None, module

"""The Dockerfile, checked without a Docker engine: parsed with BuildKit's own parser (the `dockerfile`
package), its entry script run with a stand-in `python` to see which module each argument starts, and its
build steps compared with the Makefile's."""

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import dockerfile
import pytest

from devstack.services import SERVICES

from .chart import ROOT

ROLES = {
    **{name: f"services.{name}" for name in SERVICES},
    "migrate": "services.shared.migrate",
}


def stages() -> list[list[dockerfile.Command]]:
    found: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if command.cmd == "FROM":
            found.append([])
        if found:
            found[-1].append(command)
    return found


def instructions(stage: list[dockerfile.Command], cmd: str) -> list[dockerfile.Command]:
    return [c for c in stage if c.cmd == cmd]


def test_multi_stage_and_the_runtime_stage_copies_only_the_built_environment():
    builder, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert builder[0].value[-2:] == ("AS", "builder")
    (copy,) = instructions(runtime, "COPY")
    assert copy.flags == ("--from=builder",)
    assert not any("grpc" in " ".join(c.value) for c in runtime), "build tools must not reach the runtime image"


def test_the_runtime_stage_runs_as_a_numeric_non_root_user():
    users = instructions(stages()[-1], "USER")
    assert users, "the final stage has no USER"
    user = users[-1].value[0]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: Kubernetes' runAsNonRoot needs a numeric non-root uid"


def test_exposed_ports_are_the_services_ports():
    (expose,) = instructions(stages()[-1], "EXPOSE")
    assert sorted(int(p) for p in expose.value) == sorted(SERVICES.values())


def _protoc_steps(text: str) -> tuple[str, str]:
    text = re.sub(r"\\\n\s*", " ", text)
    flags = re.search(r"grpc_tools\.protoc\s+(.*?)\s+(?:\$\(PROTOS\)|proto/triage/v1/\*\.proto)", text)
    sed = re.search(r"sed -i '([^']+)'", text)
    assert flags and sed, "no protoc or sed step found"
    return " ".join(flags.group(1).split()), sed.group(1)


def test_contracts_are_generated_as_the_makefile_does():
    builder_runs = "\n".join(" ".join(c.value) for c in instructions(stages()[0], "RUN"))
    assert _protoc_steps(builder_runs) == _protoc_steps((ROOT / "Makefile").read_text())
    assert "contracts/triage/__init__.py" in builder_runs and "contracts/triage/v1/__init__.py" in builder_runs
    # Generated before the project is installed, so the wheel carries them.
    runs = [" ".join(c.value) for c in instructions(stages()[0], "RUN")]
    generate = next(i for i, r in enumerate(runs) if "grpc_tools.protoc" in r)
    install = next(i for i, r in enumerate(runs) if re.search(r"pip install \.(\s|$)", r))
    assert generate < install


def test_the_build_context_has_what_the_builder_copies_and_not_the_local_contracts():
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    ignore = [line for line in ignore if line and not line.startswith("#")]
    copied = {c.value[0] for c in instructions(stages()[0], "COPY")}
    assert ignore[0] == "*", ".dockerignore is an allow-list"
    for source in copied:
        assert (ROOT / source).exists(), source
        assert f"!{source}" in ignore or f"!{source}/" in ignore, f"{source} is not let into the build context"
    assert "services/shared/contracts/triage/" in ignore, "stale local contracts would shadow the generated ones"


def _entrypoint() -> list[str]:
    (entry,) = instructions(stages()[-1], "ENTRYPOINT")
    assert entry.json, "ENTRYPOINT in exec form, so the service is PID 1 and receives SIGTERM"
    return list(entry.value)


@pytest.fixture(scope="module")
def stand_in_python(tmp_path_factory) -> Path:
    bin_dir = tmp_path_factory.mktemp("bin")
    stub = bin_dir / "python"
    stub.write_text('#!/bin/sh\necho "python $*"\n')
    stub.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("role", ROLES)
def test_the_entry_starts_each_role(role, stand_in_python):
    env = {"PATH": f"{stand_in_python}{os.pathsep}/usr/bin:/bin"}
    result = subprocess.run([*_entrypoint(), role, "--extra"], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "-m", ROLES[role], "--extra"]
    module = ROLES[role] if role == "migrate" else f"{ROLES[role]}.__main__"
    assert importlib.util.find_spec(module) is not None, f"{module} does not exist"


@pytest.mark.parametrize("args", [[], ["shell"]])
def test_the_entry_refuses_anything_else_with_usage(args, stand_in_python):
    env = {"PATH": f"{stand_in_python}{os.pathsep}/usr/bin:/bin"}
    result = subprocess.run([*_entrypoint(), *args], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 64
    assert "usage:" in result.stderr and result.stdout == ""
    assert all(role in result.stderr for role in ROLES)

"""The container contract, read from the files themselves (no Docker engine needed): the Dockerfile's
stages, user, labels, volumes and layer order; what the build context holds; compose.yaml; the Makefile's
container targets; the kit commit an image records. The real build and run is `make image-test`."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = [[]]
    for instruction in dockerfile():
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found          # found[0]: the global ARGs before the first FROM


def env_of(stage) -> dict[str, str]:
    env = {}
    for keyword, args in stage:
        if keyword == "ENV":
            env.update(dict(re.findall(r'(\w+)=("[^"]*"|\S+)', args)))
    return {k: v.strip('"') for k, v in env.items()}


def args_of(stage) -> dict[str, str | None]:
    found = {}
    for keyword, args in stage:
        if keyword == "ARG":
            name, _, default = args.partition("=")
            found[name] = default or None
    return found


def test_base_image_is_a_build_argument_pinned_by_digest():
    global_args = args_of(stages()[0])
    assert DIGEST.search(global_args["BASE_IMAGE"]), global_args
    assert global_args["BASE_IMAGE"].startswith("python:3.11")
    froms = [args for keyword, args in dockerfile() if keyword == "FROM"]
    assert len(froms) >= 2 and all(f.split()[0] == "${BASE_IMAGE}" for f in froms)   # multi-stage, one base


def test_dependency_layer_comes_before_the_code_and_installs_the_lock_alone():
    build = stages()[1]
    copies = [i for i, (keyword, _) in enumerate(build) if keyword == "COPY"]
    lock_copy = build[copies[0]][1]
    assert lock_copy.startswith("requirements/lock-${VARIANT}.txt ")
    code_copy = next(i for i in copies if build[i][1].startswith(". "))
    lock_install = next(i for i, (keyword, args) in enumerate(build)
                        if keyword == "RUN" and "--require-hashes --no-deps -r" in args)
    assert copies[0] < lock_install < code_copy
    kit_install = next(i for i, (keyword, args) in enumerate(build) if keyword == "RUN" and "pip install --no-deps" in args and "/opt/clue/src" in args)
    assert kit_install > code_copy
    assert args_of(build)["VARIANT"] == "cuda"
    for variant in ("cuda", "cpu"):
        assert (ROOT / "requirements" / f"lock-{variant}.txt").is_file()


def test_assets_and_protocols_are_baked_by_default_and_checked_by_doctor():
    build = stages()[1]
    assert args_of(build)["WITH_ASSETS"] == "1"
    bake = next(args for keyword, args in build if keyword == "RUN" and "clue assets fetch" in args)
    for step in ("--protocol paper", "--protocol upstream", "HF_HUB_OFFLINE=1", "clue doctor"):
        assert step in bake
    assert bake.index("clue doctor") > bake.index("--protocol upstream")     # doctor checks what was fetched
    assert "&&" in bake.split("clue doctor")[0].rsplit("--protocol upstream", 1)[1]  # its failure fails the build


def test_final_stage_runs_as_a_non_root_user_with_labels_volumes_and_offline_hub():
    final = stages()[-1]
    keywords = [keyword for keyword, _ in final]
    user = [args for keyword, args in final if keyword == "USER"]
    assert user and user[-1] not in ("root", "0") and not user[-1].startswith("0:")
    assert "RUN" not in keywords[len(keywords) - keywords[::-1].index("USER"):]    # nothing runs as root after it
    env = env_of(final)
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["CLUE_KIT_COMMIT"] == "${KIT_COMMIT}"
    volumes = [v.strip('",') for keyword, args in final if keyword == "VOLUME" for v in args.strip("[]").split()]
    assert env["HF_HOME"] in volumes
    labels = dict(re.findall(r'([\w.\-]+)="([^"]*)"', " ".join(args for keyword, args in final if keyword == "LABEL")))
    assert labels["org.opencontainers.image.version"] == "${KIT_VERSION}"
    assert labels["org.opencontainers.image.revision"] == "${KIT_COMMIT}"
    assert labels["org.opencontainers.image.source"] == "${KIT_SOURCE}"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert args_of(final)["KIT_VERSION"] == version


def test_final_stage_has_no_compiler_no_pip_and_no_sources():
    final = stages()[-1]
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert not re.search(r"apt-get install|pip install|build-essential|gcc", runs)
    copies = [args for keyword, args in final if keyword == "COPY"]
    assert copies and all(c.startswith("--from=build ") for c in copies)


def test_build_context_keeps_the_kit_and_leaves_out_data_and_history():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for excluded in (".git", ".venv", "raw", "data", "results", "protocol", "tests", "demo-out"):
        assert excluded in patterns
    assert "!results/paper" in patterns
    for kept in ("clue", "data_recipes", "requirements", "pyproject.toml", "README.md", "setup.py", "MANIFEST.in"):
        assert not any(p == kept or p.startswith(f"{kept}/") for p in patterns), kept


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_pins_vllm_by_digest_and_shares_the_model_cache():
    services = compose()["services"]
    vllm, kit = services["vllm"], services["kit"]
    assert vllm["image"].startswith("vllm/vllm-openai:") and DIGEST.search(vllm["image"])
    hf_home = env_of(stages()[-1])["HF_HOME"]
    host_of = {name: {v.rsplit(":", 1)[1]: v.rsplit(":", 1)[0] for v in s["volumes"]} for name, s in services.items()}
    assert host_of["kit"][hf_home] == host_of["vllm"]["/root/.cache/huggingface"]
    assert host_of["kit"]["/work"] == "."
    assert kit["depends_on"]["vllm"]["condition"] == "service_healthy" and vllm["healthcheck"]["test"]
    assert kit["user"].startswith("${CLUE_UID")
    assert str(kit["environment"]["HF_HUB_OFFLINE"]).startswith("${HF_HUB_OFFLINE:-1}")
    for service in services.values():     # tokens only pass through from the caller's environment
        for name, value in service.get("environment", {}).items():
            if "TOKEN" in name or "PASSWORD" in name:
                assert value == f"${{{name}:-}}"


def _make(*args: str) -> list[str]:
    result = subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ").splitlines()


def test_reproduce_with_vllm_runs_each_step_in_the_kit_image():
    from click.testing import CliRunner

    from clue.cli import cli

    lines = _make("reproduce", "ENGINE=vllm", "MODEL=org/model")
    kit_commands = [line.split(" kit ", 1)[1].split(";")[0] for line in lines if "compose run --rm --no-deps kit " in line]
    assert [c.split()[0] for c in kit_commands] == ["data", "data", "data", "evaluate", "tables"]
    evaluate = next(c for c in kit_commands if c.startswith("evaluate"))
    assert "--backend openai --base-url http://vllm:8000/v1" in evaluate and "--model org/model" in evaluate
    up = next(i for i, line in enumerate(lines) if "compose up -d --wait vllm" in line)
    assert up < next(i for i, line in enumerate(lines) if " kit evaluate " in line)
    assert "compose stop vllm; exit $status" in next(line for line in lines if " kit evaluate " in line)
    assert all("MODEL=org/model" in line for line in lines if "docker compose" in line)
    for command in kit_commands:
        result = CliRunner().invoke(cli, [*command.split(), "--help"])
        assert result.exit_code == 0, f"{command}: {result.output}"
    assert not any("docker" in line for line in _make("reproduce"))       # natively by default


def test_docker_targets_pass_the_build_arguments_the_user_and_the_cache():
    build = " ".join(_make("docker-build", "KIT_COMMIT=abc123"))
    for arg in ("KIT_COMMIT=abc123", "KIT_VERSION=", "KIT_SOURCE=", "VARIANT=cuda"):
        assert f"--build-arg {arg}" in build
    run = " ".join(_make("docker-run", "HF_CACHE=/tmp/hf"))
    uid_gid = subprocess.run(["sh", "-c", 'echo "$(id -u):$(id -g)"'], capture_output=True, text=True).stdout.strip()
    assert f'--user "{uid_gid}"' in run and '-v "/tmp/hf:/cache/huggingface"' in run and "-e HF_HUB_OFFLINE=1" in run


def test_manifest_records_the_commit_an_image_was_built_from(monkeypatch, tmp_path):
    from clue import manifest

    monkeypatch.setattr(manifest, "PROJECT_DIR", tmp_path)           # an installed kit: no .git beside it
    monkeypatch.delenv("CLUE_KIT_COMMIT", raising=False)
    assert manifest.kit_info()["git_commit"] is None
    monkeypatch.setenv("CLUE_KIT_COMMIT", "0123abc")
    assert manifest.kit_info() == {"version": manifest.__version__, "git_commit": "0123abc", "git_dirty": False,
                                   "commit_source": "CLUE_KIT_COMMIT"}
    monkeypatch.setenv("CLUE_KIT_COMMIT", "0123abc-dirty")
    assert (manifest.kit_info()["git_commit"], manifest.kit_info()["git_dirty"]) == ("0123abc", True)
    monkeypatch.setenv("CLUE_KIT_COMMIT", "unknown")
    assert manifest.kit_info()["git_commit"] is None


def test_image_test_script_refuses_an_unknown_option_before_doing_anything(tmp_path):
    script = ROOT / ".ci" / "image-test"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    result = subprocess.run([str(script), "--bogus"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "CLUE_IMAGE_TEST_DIR": str(tmp_path / "w")})
    assert result.returncode == 2 and "unknown argument --bogus" in result.stderr
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("target", ["docker-build", "docker-run", "image-test", "compose-evaluate"])
def test_container_targets_exist(target):
    assert _make(target)

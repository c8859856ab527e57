"""`llmserver pull` as a subprocess against a local HTTP server standing in for the Hugging
Face hub (HF_ENDPOINT, harness/hub.py), serving a small real GGUF."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gguf
import pytest
import yaml

from harness.hub import FILE, REPO, Hub, serving, write_gguf
from harness.processes import free_port


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[Hub]:
    content = write_gguf(tmp_path / "source.gguf")
    served = Hub(files={f"{REPO}/{FILE}": content,
                        "bartowski/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf":
                        content})
    with serving(served):
        yield served


def pull(endpoint: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # rag, imported by other tests in this process, sets the hub's offline switches.
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")
           and k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(home / "hf-home"),
               NO_PROXY="127.0.0.1,localhost", HF_HUB_DISABLE_TELEMETRY="1")
    return subprocess.run([sys.executable, "-m", "llmserver", "pull", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def ggufs(models: Path) -> list[str]:
    return sorted(p.name for p in models.glob("*.gguf"))


def test_a_pull_saves_the_checked_gguf_under_its_alias(hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    done = pull(hub.url, tmp_path, f"{REPO}/{FILE}", "--models-dir", str(models))
    assert done.returncode == 0, done.stderr
    saved = models / "tiny-Q4_K_M.gguf"
    assert saved.read_bytes() == hub.files[f"{REPO}/{FILE}"]
    assert gguf.GGUFReader(str(saved)).fields["general.name"].contents() == "tiny"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() in done.stdout
    assert "LLM_MODEL=tiny-Q4_K_M" in done.stdout
    assert yaml.safe_load((models / "tiny-Q4_K_M.yaml").read_text()) == {
        "description": f"{REPO}/{FILE} from Hugging Face"}
    assert sorted(p.name for p in models.iterdir()) == ["tiny-Q4_K_M.gguf", "tiny-Q4_K_M.yaml"]


def test_a_curated_name_pulls_its_file_under_that_name(hub: Hub, tmp_path: Path) -> None:
    models = tmp_path / "models"
    done = pull(hub.url, tmp_path, "qwen2.5-0.5b-instruct", "--models-dir", str(models))
    assert done.returncode == 0, done.stderr
    assert ggufs(models) == ["qwen2.5-0.5b-instruct.gguf"]
    assert "LLM_MODEL=qwen2.5-0.5b-instruct" in done.stdout


def test_the_list_names_each_curated_model_with_its_size_and_file(tmp_path: Path) -> None:
    listed = pull("http://127.0.0.1:9", tmp_path, "--list")
    assert listed.returncode == 0
    assert "qwen2.5-0.5b-instruct" in listed.stdout
    assert "bartowski/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf" in listed.stdout
    assert "GB" in listed.stdout


def test_an_interrupted_pull_leaves_no_gguf_and_the_next_resumes(hub: Hub,
                                                                 tmp_path: Path) -> None:
    models = tmp_path / "models"
    # huggingface_hub writes what it received in pieces of DOWNLOAD_CHUNK_SIZE (10 MB) and
    # loses a piece cut short, so resuming shows from the second piece on: a 13 MB file,
    # cut after 12 MB, leaves 10 MB to resume from.
    hub.files[f"{REPO}/{FILE}"] = write_gguf(tmp_path / "larger.gguf", rows=3200)
    cut = 12 * 1024 * 1024
    hub.cut_next_get_after = cut
    broken = pull(hub.url, tmp_path, f"{REPO}/{FILE}", "--models-dir", str(models))
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines()[-1] == (
        f"llmserver pull: the connection to {hub.url} broke off during the download; run "
        "the same command again to resume")
    assert ggufs(models) == []
    done = pull(hub.url, tmp_path, f"{REPO}/{FILE}", "--models-dir", str(models))
    assert done.returncode == 0, done.stderr
    first, resumed = hub.ranges
    assert first is None
    assert resumed is not None
    assert 0 < int(re.fullmatch(r"bytes=(\d+)-", resumed).group(1)) <= cut
    assert (models / "tiny-Q4_K_M.gguf").read_bytes() == hub.files[f"{REPO}/{FILE}"]


def test_a_download_whose_sha256_differs_from_the_hubs_is_refused(hub: Hub,
                                                                  tmp_path: Path) -> None:
    models = tmp_path / "models"
    hub.published[f"{REPO}/{FILE}"] = hashlib.sha256(b"another file").hexdigest()
    refused = pull(hub.url, tmp_path, f"{REPO}/{FILE}", "--models-dir", str(models))
    assert refused.returncode == 1
    assert "sha256" in refused.stderr and "corrupt" in refused.stderr
    assert list(models.iterdir()) == []


def test_a_hub_that_cannot_be_reached_is_one_clear_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    failed = pull(down, tmp_path, f"{REPO}/{FILE}", "--models-dir", str(tmp_path / "models"))
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        f"llmserver pull: cannot reach {down}: offline, or its name does not resolve "
        "(Connection refused)")
    assert ggufs(tmp_path / "models") == []


@pytest.mark.parametrize(("spec", "words"), [
    (f"{REPO}/missing.gguf", f"{REPO} has no file missing.gguf"),
    ("nobody/Nothing-GGUF/x.gguf", "no repository nobody/Nothing-GGUF"),
    ("not-a-model", "neither OWNER/REPO/FILE.gguf nor a name"),
])
def test_what_does_not_exist_is_named(hub: Hub, tmp_path: Path, spec: str, words: str) -> None:
    failed = pull(hub.url, tmp_path, spec, "--models-dir", str(tmp_path / "models"))
    assert failed.returncode == 1
    assert len(failed.stderr.strip().splitlines()) == 1
    assert words in failed.stderr

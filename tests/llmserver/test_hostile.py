"""Hostile clients against llmserver: names from outside that would become paths (a pull's
model, a request's model, a yaml's template file, a source archive's members), web pages
that make a visitor's browser call it (cross-site requests, DNS rebinding), and
llama-server's key, which must not be on its command line.

The rules first, in process; then a real llmserver (and its llama-server, and Chromium
for a page of another origin) whose models folder is checked to be untouched byte for byte.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from harness.browser import CHROMIUM, chromium
from harness.hub import models_dir_for
from harness.processes import PROCESSES, children, free_port, llmserver
from llmserver.app import Gateway
from llmserver.llama_build.source import fetch_source
from llmserver.models.config import ConfigError, load
from llmserver.models.discovery import DEFAULT_MODEL_FILE
from llmserver.names import UnsafeName, inside
from llmserver.pull.download import pull
from llmserver.pull.sources import PullError, Source, resolve
from llmserver.settings import Settings

ALIAS = Path(DEFAULT_MODEL_FILE).stem

# Model names a page visitor may send to `/v1/models/pull`, each with what the 400 says.
UNSAFE_PULLS = [
    ("owner/repo/...gguf", "not a safe name"),  # its stem, the alias, was '..'
    ("owner/repo/../x.gguf", "not a safe name"),
    ("../x.gguf", "neither OWNER/REPO/FILE.gguf"),
    ("../../x/y.gguf", "not a safe name"),
    ("a/../../b.gguf", "not a safe name"),
    ("owner/repo/a/../../b.gguf", "not a safe name"),
    ("owner/repo/sub/..", "neither OWNER/REPO/FILE.gguf"),
    ("/etc/owner/x.gguf", "absolute path"),
    ("/owner/repo/x.gguf", "absolute path"),
    ("owner//repo/x.gguf", "not a safe name"),
    ("owner/repo//x.gguf", "not a safe name"),
    ("owner/repo/.gguf", "not a safe name"),
    ("owner/repo/.hidden.gguf", "not a safe name"),
    ("owner/repo/%2e%2e/x.gguf", "not a safe name"),
    ("owner/repo/%2e%2e%2f%2e%2e%2fx.gguf", "not a safe name"),
    ("owner/repo/..%2fx.gguf", "not a safe name"),
    ("owner/repo/..\\..\\x.gguf", "not a safe name"),
    ("owner/repo/x\x00.gguf", "not a safe name"),
    ("owner/repo/" + "a" * 5000 + ".gguf", "longer than 128"),
    ("owner/repo/" + "a/" * 50 + "x.gguf", "more than 8 parts"),
    ("--models-dir=/tmp/owner/x.gguf", "not a safe name"),
]


def tree(root: Path) -> list[tuple[str, bool, int]]:
    """Everything under `root`: path, is a folder, size."""
    return sorted((str(p.relative_to(root)), p.is_dir(), 0 if p.is_dir() else p.stat().st_size)
                  for p in root.rglob("*"))


# The rules, in process -------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "said"), UNSAFE_PULLS)
def test_resolve_refuses_names_that_are_not_plain_names(spec: str, said: str) -> None:
    with pytest.raises(PullError, match=said.replace(".", r"\.")) as error:
        resolve(spec, None)
    assert len(str(error.value)) < 400  # a 5,000-character name is not echoed in full


@pytest.mark.parametrize("alias", ["..", ".", "", "../x", "/abs", "a/b", "x\x00", "-rf",
                                   "a" * 200])
def test_resolve_refuses_an_unsafe_alias(alias: str) -> None:
    with pytest.raises(PullError, match="the alias"):
        resolve("qwen2.5-0.5b-instruct", alias)


def test_resolve_still_takes_real_names() -> None:
    source = resolve("bartowski/Qwen2.5-0.5B-Instruct-GGUF/Q4/Qwen2.5-0.5B+x_1.gguf", None)
    assert (source.repo, source.file, source.alias) == (
        "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Q4/Qwen2.5-0.5B+x_1.gguf", "Qwen2.5-0.5B+x_1")


@pytest.mark.parametrize("alias", ["..", ".", "../x", "/tmp/x"])
def test_pull_itself_refuses_an_unsafe_alias_before_touching_the_folder(
        tmp_path: Path, alias: str) -> None:
    """The second guard: a Source that did not come from resolve() cannot stage into, or
    remove, MODELS_DIR or anything outside it."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "mine.gguf").write_bytes(b"GGUF")
    before = tree(tmp_path)
    with pytest.raises(PullError):
        pull(Source("owner/repo", "x.gguf", alias, ""), models, "main")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("parts", [("..",), ("a", "..", ".."), ("/etc/passwd",),
                                   ("x\x00",), ("",), (".",), ("a/../../b",)])
def test_inside_refuses_paths_that_leave_their_root(tmp_path: Path, parts: tuple[str, ...]
                                                    ) -> None:
    with pytest.raises(UnsafeName):
        inside(tmp_path / "root", *parts)


def test_inside_refuses_a_folder_that_links_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / ".pull").symlink_to(tmp_path)
    with pytest.raises(UnsafeName):
        inside(tmp_path / "root", ".pull", "x")
    assert inside(tmp_path / "root", "sub", "x.gguf") == (tmp_path / "root/sub/x.gguf").resolve()


@pytest.mark.parametrize("name", ["../outside.jinja", "sub/../../outside.jinja",
                                  "/etc/hostname"])
def test_a_yaml_template_file_outside_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "outside.jinja").write_text("{{ messages }}")
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    config = models / "tiny.yaml"
    config.write_text(f"chat_template_file: {json.dumps(name)}\n")
    with pytest.raises(ConfigError, match="chat_template_file: .* is outside"):
        load(config)


def test_a_yaml_template_file_in_a_subfolder_is_read(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.jinja").write_text("{{ messages[0].content }}")
    (tmp_path / "tiny.yaml").write_text("chat_template_file: templates/t.jinja\n")
    assert load(tmp_path / "tiny.yaml")[1] == "{{ messages[0].content }}"


@pytest.mark.parametrize(("name", "kind", "link"), [
    ("../../escaped.txt", tarfile.REGTYPE, ""),
    ("/tmp/absolute.txt", tarfile.REGTYPE, ""),
    ("link", tarfile.SYMTYPE, "../../../etc"),
    ("hard", tarfile.LNKTYPE, "../outside"),
])
def test_a_source_archive_member_outside_its_folder_is_refused(
        tmp_path: Path, name: str, kind: bytes, link: str) -> None:
    version = "0.0.0"
    (tmp_path / "sdist").mkdir()
    with tarfile.open(tmp_path / "sdist" / f"llama_cpp_python-{version}.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo(f"llama_cpp_python-{version}/vendor/llama.cpp/{name}")
        member.type, member.linkname = kind, link
        data = b"x" if kind == tarfile.REGTYPE else b""
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(SystemExit, match="unsafe"):
        fetch_source(version, tmp_path)
    assert not (tmp_path.parent / "escaped.txt").exists()


# Browser rules, in process (the gateway without a model: a request that passes them gets
# the 503 of a model still loading) -----------------------------------------------------

def guarded(**settings: object) -> TestClient:
    return TestClient(Gateway(Settings(models_dir=Path("unused"), **settings)),
                      base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(("host", "settings", "status"), [
    ("127.0.0.1:8000", {}, 503),
    ("localhost:8000", {}, 503),
    ("LOCALHOST.", {}, 503),
    ("[::1]:8000", {}, 503),
    ("llmserver:8000", {}, 503),  # the chatbot inside docker-compose.yml
    ("llmserver-gpu:8000", {}, 503),
    ("10.1.2.3:8000", {"host": "10.1.2.3"}, 503),  # the bind address
    ("evil.example:8000", {}, 403),
    ("127.0.0.1.evil.example", {}, 403),
    ("0.0.0.0:8000", {"host": "0.0.0.0"}, 403),
    ("evil.example", {"allowed_hosts": "*"}, 503),
    ("chat.lan:8000", {"allowed_hosts": "chat.lan, other.lan"}, 503),
    ("localhost:8000", {"allowed_hosts": "chat.lan"}, 403),  # the list replaces the default
])
def test_the_host_must_be_one_this_server_answers_to(host: str, settings: dict[str, str],
                                                     status: int) -> None:
    answer = guarded(**settings).get("/v1/models", headers={"host": host})
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["error"]["code"] == "host_not_allowed"
        assert "LLM_ALLOWED_HOSTS" in answer.json()["error"]["message"]


def test_health_answers_whatever_the_host_and_origin() -> None:
    """Orchestrators probe it by address (Kubernetes sends the pod's IP as Host)."""
    answer = guarded().get("/health", headers={"host": "10.0.0.7:8000",
                                               "origin": "http://evil.example"})
    assert answer.status_code == 503
    assert answer.json() == {"status": "loading"}


def test_a_page_of_an_allowed_origin_gets_its_preflight_and_cors_headers() -> None:
    client = guarded(allowed_origins="http://app.example")
    origin = {"origin": "http://app.example"}
    preflight = client.options("/v1/chat/completions", headers={
        **origin, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://app.example"
    assert "content-type" in preflight.headers["access-control-allow-headers"]
    answer = client.post("/v1/chat/completions", json={}, headers=origin)
    assert answer.status_code == 503  # past the guard
    assert answer.headers["access-control-allow-origin"] == "http://app.example"
    other = client.post("/v1/chat/completions", json={}, headers={"origin": "http://b.example"})
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers


# A real llmserver --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MODELS_DIR (the packaged model linked in, a yaml and a GGUF of the user's) beside a
    file that must survive too."""
    root = tmp_path_factory.mktemp("hostile")
    folder = models_dir_for(root)
    (folder / "mine.yaml").write_text("description: keep me\n")
    (folder / "notes.txt").write_text("keep me too\n")
    (root / "outside.txt").write_text("and me\n")
    return folder


@pytest.fixture(scope="module")
def server(models: Path) -> Iterator[str]:
    # A hub that refuses: a pull that started anyway would fail at once, not download.
    with llmserver(MODELS_DIR=str(models), HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",
                   NO_PROXY="127.0.0.1,localhost") as url:
        yield url


def metrics(url: str) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"{url}/metrics").text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def refused_by_origin(url: str) -> float:
    return metrics(url).get(
        ("llmserver_errors_total", frozenset({("kind", "origin_not_allowed")})), 0)


def decodes(url: str) -> float:
    """llama-server's batches evaluated so far: unchanged, nothing reached it."""
    return metrics(url)[("llamacpp:n_decode_total", frozenset())]


@pytest.mark.slow
def test_unsafe_pull_names_are_a_400_and_the_models_folder_is_untouched(
        server: str, models: Path) -> None:
    before = tree(models.parent)
    for spec, said in UNSAFE_PULLS:
        answer = httpx.post(f"{server}/v1/models/pull", json={"model": spec})
        assert answer.status_code == 400, (spec, answer.text)
        error = answer.json()["error"]
        assert error["param"] == "model"
        assert said in error["message"], (spec, error["message"])
    assert httpx.get(f"{server}/v1/models/pull").json()["state"] == "idle"
    assert tree(models.parent) == before
    assert not (models / ".pull").exists()


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions",
                                  "/tokenize/count"])
def test_a_model_name_that_is_a_path_is_only_an_unknown_model(server: str, models: Path,
                                                              path: str) -> None:
    before = tree(models.parent)
    for model in ("../../outside", "/etc/passwd", f"../models/{ALIAS}", "mine\x00", ".."):
        answer = httpx.post(f"{server}{path}", json={
            "model": model, "messages": [{"role": "user", "content": "hi"}], "prompt": "hi",
            "input": "hi", "max_tokens": 1})
        assert answer.status_code == 404, (model, answer.text)
        assert answer.json()["error"]["code"] == "model_not_found"
    assert tree(models.parent) == before


@pytest.mark.slow
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io"])
def test_a_request_for_another_host_is_refused(server: str, host: str) -> None:
    """DNS rebinding: a page whose name now points at 127.0.0.1 is same-origin with it, but
    its requests carry its own name as Host."""
    decoded = decodes(server)
    for method, path, body in (("GET", "/v1/models", None),
                               ("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 2}),
                               ("POST", "/v1/models/pull", {"model": "qwen2.5-0.5b-instruct"})):
        answer = httpx.request(method, f"{server}{path}", json=body, headers={"host": host})
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "host_not_allowed"
        assert "LLM_ALLOWED_HOSTS" in answer.json()["error"]["message"]
    assert decodes(server) == decoded
    assert httpx.get(f"{server}/v1/models/pull").json()["state"] == "idle"


@pytest.mark.slow
@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_a_post_that_is_not_json_is_a_415(server: str, content_type: str | None) -> None:
    """What a page may send without a CORS preflight."""
    decoded = decodes(server)
    headers = {"content-type": content_type} if content_type else {}
    for path, body in (("/v1/completions", {"prompt": "Hi", "max_tokens": 2}),
                       ("/v1/models/pull", {"model": "qwen2.5-0.5b-instruct"})):
        answer = httpx.post(f"{server}{path}", content=json.dumps(body), headers=headers)
        assert answer.status_code == 415, answer.text
        assert "Content-Type: application/json" in answer.json()["error"]["message"]
    assert decodes(server) == decoded
    assert httpx.get(f"{server}/v1/models/pull").json()["state"] == "idle"


@pytest.mark.slow
@pytest.mark.parametrize("headers", [
    {"origin": "http://evil.example"}, {"origin": "null"},
    {"origin": "http://localhost:9999"}, {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"}])
def test_a_request_from_a_web_page_is_refused(server: str, headers: dict[str, str]) -> None:
    decoded = decodes(server)
    for path, body in (("/v1/completions", {"prompt": "Hi", "max_tokens": 2}),
                       ("/v1/models/pull", {"model": "qwen2.5-0.5b-instruct"})):
        answer = httpx.post(f"{server}{path}", json=body, headers=headers)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "origin_not_allowed"
    assert decodes(server) == decoded
    assert httpx.get(f"{server}/v1/models/pull").json()["state"] == "idle"


@pytest.mark.slow
def test_clients_that_are_not_browsers_still_work(server: str) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    answer = client.completions.create(model=ALIAS, prompt="Hello", max_tokens=2)
    assert answer.choices[0].text
    # What the chatbot sends (httpx, json=) and what a person types (curl's
    # `-H 'Content-Type: application/json; charset=utf-8'`), by name or by address.
    for host in ("localhost", "127.0.0.1"):
        url = server.replace("127.0.0.1", host)
        counted = httpx.post(f"{url}/tokenize/count", content=b'{"input": "Hello there"}',
                             headers={"content-type": "application/json; charset=utf-8"})
        assert counted.status_code == 200, counted.text
        assert counted.json()["count"] > 0


@contextmanager
def page_server(html: str) -> Iterator[int]:
    """A page on another loopback origin: http://localhost:PORT/."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


# Each way a page can send a POST to another origin: without CORS (a "simple" request,
# answer unreadable, but it would have been acted on), and with JSON (after a preflight).
CROSS_SITE_FETCHES = """async (llm) => {
  const out = [];
  const calls = [["/v1/models/pull", {model: "qwen2.5-0.5b-instruct"}],
                 ["/v1/completions", {prompt: "Hello", max_tokens: 4}]];
  for (const [path, body] of calls) {
    for (const mode of ["no-cors", "cors"]) {
      const init = {method: "POST", mode, body: JSON.stringify(body)};
      if (mode === "cors") init.headers = {"content-type": "application/json"};
      try {
        const r = await fetch(llm + path, init);
        out.push([path, mode, r.type, r.status, mode === "cors" ? await r.text() : ""]);
      } catch (e) {
        out.push([path, mode, "error", 0, String(e)]);
      }
    }
  }
  return out;
}"""


@pytest.mark.slow
def test_a_cross_site_page_in_chromium_can_neither_pull_nor_generate(server: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: `make test` installs it")
    decoded, refused = decodes(server), refused_by_origin(server)
    with page_server("<!doctype html><title>elsewhere</title>") as port, chromium() as browser:
        page = browser.new_page()
        page.goto(f"http://localhost:{port}/")
        results = page.evaluate(CROSS_SITE_FETCHES, server)
    by_mode = {(path, mode): (kind, status) for path, mode, kind, status, _ in results}
    # Sent without CORS: opaque to the page. With JSON: the preflight is refused, so the
    # request itself is never sent.
    assert by_mode[("/v1/models/pull", "no-cors")] == ("opaque", 0)
    assert by_mode[("/v1/models/pull", "cors")] == ("error", 0)
    assert by_mode[("/v1/completions", "cors")] == ("error", 0)
    # What counts: llmserver acted on none of them.
    assert httpx.get(f"{server}/v1/models/pull").json()["state"] == "idle"
    assert decodes(server) == decoded
    # The two simple POSTs and the two preflights, each refused for its Origin.
    assert refused_by_origin(server) - refused == 4


@pytest.mark.slow
def test_llama_servers_key_is_in_its_environment_not_its_command_line(server: str) -> None:
    [engine] = [pid for pid in children(PROCESSES[server].pid)
                if Path(f"/proc/{pid}/exe").resolve().name == "llama-server"]
    command = Path(f"/proc/{engine}/cmdline").read_bytes().split(b"\0")
    environment = dict(line.split(b"=", 1) for line in
                       Path(f"/proc/{engine}/environ").read_bytes().split(b"\0") if b"=" in line)
    key = environment[b"LLAMA_API_KEY"]
    assert len(key) >= 24
    assert b"--api-key" not in command
    assert not any(key in arg for arg in command)
    # llama-server enforces it: its port refuses a request without the key...
    port = command[command.index(b"--port") + 1].decode()
    direct = httpx.post(f"http://127.0.0.1:{port}/v1/completions",
                        json={"prompt": "Hi", "max_tokens": 1})
    assert direct.status_code == 401
    # ...and llmserver, which has it, still generates.
    answer = httpx.post(f"{server}/v1/completions", timeout=120,
                        json={"model": ALIAS, "prompt": "Hello", "max_tokens": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["text"]

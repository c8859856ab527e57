"""Grounded answers as a user gets them: does the answer state the fact, does its first
citation open the right page, and is "not covered" said exactly when the documents do not
answer? Through the real chatbot (Socket.IO, a fresh conversation per question, `/rag on`,
temperature 0, 80 tokens at most) over the real llmserver with the default model.

    .venv/bin/python bench/rag_answers.py [--set zsh|pydoc] [--modes both,generate,quote]
                                          [--seed] [--limit N] [--json OUT]

Sets (documentation nobody here tuned to, questions written from the pages before any run):
- zsh: the Zsh manual from Debian's zsh-doc (bench/zsh_corpus.py), with
  bench/zsh_answers.json: task-phrased and exact-name questions, each with the facts an
  answer must state (any one of them) and the pages that hold them, and questions the
  manual does not answer.
- pydoc: 200 pages of Python's library reference (bench/pydoc_corpus.py); its questions
  carry no facts, so only citations and false "not covered" are measured there.

Each mode is a RAG_ANSWER setting (chatbot/chat/answering.py): `both` (the best matching sentence
quoted with its citation, then the model's answer), `generate` (the model's answer only),
`quote` (the quote only). `--seed` adds the anchor: the seed product's prompt ("Context
information is below. … Query: … Answer: "), with the same passages the chatbot gave the
model, sent as a chat message and as a plain completion.

The modes run with RAG_MIN_EVIDENCE=-1, so every question is answered and its evidence
strength (the best sentence's similarity to the question, `done.seen.evidence`) recorded;
"not covered" at a threshold t is then exact offline: the product answers "not covered"
exactly for the questions whose evidence is under t (that decision comes before the model
and does not depend on it). The report gives the product's default threshold and a sweep.

Scoring, fixed before the first run:
- states the fact: one of the question's facts occurs in the answer text, case-insensitive,
  white space and markdown marks (` * _) ignored, not inside a longer word; an answer that
  says "not covered" states nothing;
- first citation right: the source the answer cites first ([n] in order of appearance) is
  one of the question's pages (its file name);
- not covered right: said for an unanswerable question, not said for an answerable one;
- time to first token: from sending the message to the first `token` event the client got
  (the median); and to the first token of the model's own text where a quote came first.

Targets (issue 23, default model): states the fact ≥ 0.75 of answerable questions; first
citation right ≥ 0.80; not covered right ≥ 0.8 on each side; median first token ≤ 0.8 s.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from chatbot.settings import Settings  # noqa: E402
from harness.processes import chatbot, llmserver  # noqa: E402
from harness.socketclient import ChatClient  # noqa: E402
from rag import Rag, RagSettings  # noqa: E402

COLLECTION = "answers"
MAX_TOKENS = "80"
SEED_PROMPT = ("Context information is below.\n---------------------\n{context}\n"
               "---------------------\nGiven the context information and not prior knowledge, "
               "answer the query.\nQuery: {question}\nAnswer: ")
_MARKS = re.compile(r"[`*_]")


@dataclass
class Question:
    text: str
    facts: list[str]
    pages: list[str]
    kind: str  # task, name or unanswerable


@dataclass
class Result:
    question: str
    kind: str
    answer: str
    first_cited: str | None
    evidence: float | None
    unknown: list[str]  # uncommon question words no document uses
    first_token_s: float
    model_token_s: float | None
    sources: list[str] = field(default_factory=list)
    given: list[str] = field(default_factory=list)  # passages the model was given


def load_set(name: str) -> tuple[list[Path], list[Question]]:
    if name == "zsh":
        from bench import zsh_corpus

        items = json.loads((ROOT / "bench" / "zsh_answers.json").read_text())
        return zsh_corpus.pages(), [
            Question(i["question"], i.get("facts", []), i.get("pages", []),
                     i.get("kind", "task")) for i in items]
    from bench import pydoc_corpus

    return pydoc_corpus.pages(), [Question(q, [], list(p), "task")
                                  for q, p in pydoc_corpus.questions()]


def collection_dir(name: str, pages: list[Path]) -> Path:
    """The set ingested once (by the rag library, as `rag ingest` does) and reused."""
    data = ROOT / "build" / "bench" / name / "answers-data"
    rag = Rag(RagSettings(data_dir=data))
    if not any(c.name == COLLECTION and c.chunks for c in rag.collections()):
        started = time.perf_counter()
        summary = rag.ingest([str(p) for p in pages], COLLECTION)
        print(f"ingested {len(pages)} pages into {data} in {time.perf_counter() - started:.0f} s"
              f" ({len(summary.failed)} failed)")
    return data


def normalized(text: str) -> str:
    return " ".join(_MARKS.sub(" ", text).lower().split())


def states(answer: str, facts: list[str]) -> bool:
    said = normalized(answer)
    for fact in facts:
        wanted = normalized(fact)
        if not wanted:
            continue
        pattern = (r"(?<![a-z0-9])" if wanted[0].isalnum() else "") + re.escape(wanted) + (
            r"(?![a-z0-9])" if wanted[-1].isalnum() else "")
        if re.search(pattern, said):
            return True
    return False


def page_of(url: str | None) -> str | None:
    return Path(url.split("#")[0]).name if url else None


def first_cited(answer: str, sources: list[dict[str, Any]]) -> str | None:
    by_number = {s.get("n", i): s for i, s in enumerate(sources, 1)}
    for number in re.findall(r"\[(\d{1,3})\]", answer):
        source = by_number.get(int(number))
        if source:
            return page_of(source.get("url"))
    return None


def fresh(client: ChatClient, rag: bool = True) -> None:
    """A new conversation, grounded in the bench's collection or not."""
    client.wait("history", since=client.emit("reset", {}))
    client.wait("settings", since=client.emit("settings", {"rag": rag,
                                                           "rag_collection": COLLECTION}))


def timed(client: ChatClient, question: str) -> tuple[str, dict[str, Any], float, float | None]:
    """(answer, `done`, seconds to the first token, to the model's first token): the
    model's is the second piece when the first is a quote."""
    start = client.send(question)
    sent = time.perf_counter()
    _, event, done = client.wait("done", "error", since=start, timeout=300)
    if event != "done":
        raise SystemExit(f"chatbot answered with an error: {done}")
    tokens = [(at, data["text"]) for at, name, data in client.events[start:] if name == "token"]
    answer = "".join(text for _, text in tokens)
    quoted = answer.startswith(">")
    model_at = tokens[1][0] if quoted and len(tokens) > 1 else (
        tokens[0][0] if tokens and not quoted else None)
    return (answer, done, tokens[0][0] - sent if tokens else float("nan"),
            model_at - sent if model_at else None)


def ask(client: ChatClient, question: str) -> Result:
    fresh(client)
    answer, done, first, model = timed(client, question)
    sources = done.get("sources") or []
    seen = done.get("seen") or {}
    return Result(question, "", answer, first_cited(answer, sources), seen.get("evidence"),
                  seen.get("unknown", []), first, model,
                  [page_of(s.get("url")) or "" for s in sources],
                  [s.get("passage", "") for s in sources])


def seed_answers(llm: str, results: list[Result]) -> dict[str, list[str]]:
    """The seed product's prompt with the same passages: as a chat message and as text."""
    out: dict[str, list[str]] = {"seed-chat": [], "seed-completion": []}
    with httpx.Client(base_url=f"{llm}/v1", timeout=300) as http:
        model = http.get("/models").json()["data"][0]["id"]
        for result in results:
            prompt = SEED_PROMPT.format(context="\n\n".join(result.given),
                                        question=result.question)
            chat = http.post("/chat/completions", json={
                "model": model, "temperature": 0, "max_tokens": int(MAX_TOKENS),
                "messages": [{"role": "user", "content": prompt}]}).json()
            out["seed-chat"].append(chat["choices"][0]["message"]["content"])
            text = http.post("/completions", json={
                "model": model, "temperature": 0, "max_tokens": int(MAX_TOKENS),
                "prompt": prompt}).json()
            out["seed-completion"].append(text["choices"][0]["text"])
    return out


def rate(hits: int, total: int) -> str:
    return f"{hits / total:.2f} ({hits}/{total})" if total else "-"


def report(mode: str, questions: list[Question], results: list[Result], threshold: float,
           has_facts: bool) -> dict[str, Any]:
    answerable = [(q, r) for q, r in zip(questions, results, strict=True)
                  if q.kind != "unanswerable"]
    unanswerable = [(q, r) for q, r in zip(questions, results, strict=True)
                    if q.kind == "unanswerable"]

    def covered(r: Result) -> bool:
        return threshold <= -1 or (
            (r.evidence is None or r.evidence >= threshold) and not r.unknown)

    fact = sum(covered(r) and states(r.answer, q.facts) for q, r in answerable)
    cited = sum(covered(r) and r.first_cited in q.pages for q, r in answerable)
    first_source = sum(bool(r.sources) and r.sources[0] in q.pages for q, r in answerable)
    kept = sum(covered(r) for _, r in answerable)
    refused = sum(not covered(r) for _, r in unanswerable)
    first = statistics.median(r.first_token_s for r in results)
    model = [r.model_token_s for r in results if r.model_token_s is not None]
    line = {
        "mode": mode, "threshold": threshold,
        "states_fact": fact / len(answerable) if has_facts else None,
        "first_citation_right": cited / len(answerable),
        "first_source_right": first_source / len(answerable),
        "answered_when_covered": kept / len(answerable),
        "not_covered_when_not": refused / len(unanswerable) if unanswerable else None,
        "first_token_s": first, "model_token_s": statistics.median(model) if model else None,
    }
    print(f"{mode:>15}  fact {rate(fact, len(answerable)) if has_facts else '-':>13}  "
          f"cited right {rate(cited, len(answerable)):>13}  "
          f"first source right {rate(first_source, len(answerable)):>13}  "
          f"covered kept {rate(kept, len(answerable)):>13}  "
          f"not covered said {rate(refused, len(unanswerable)):>13}  "
          f"first token {first:.2f} s  model's {line['model_token_s'] or float('nan'):.2f} s")
    return line


def sweep(questions: list[Question], results: list[Result]) -> None:
    """Both sides of "not covered" at each threshold, with and without the unknown-words
    rule (a question with an uncommon word no document uses is not covered)."""
    pairs = [(q.kind == "unanswerable", r) for q, r in zip(questions, results, strict=True)
             if r.evidence is not None]
    answerable = sum(not u for u, _ in pairs) or 1
    unanswerable = sum(u for u, _ in pairs) or 1
    print("not covered at threshold t: kept answerable, refused unanswerable "
          "(evidence alone | with unknown words)")
    for step in range(20, 61, 5):
        t = step / 100
        cells = []
        for words in (False, True):
            def refused(r: Result, t: float = t, words: bool = words) -> bool:
                return r.evidence < t or (words and bool(r.unknown))  # type: ignore[operator]
            kept = sum(not refused(r) for u, r in pairs if not u) / answerable
            said = sum(refused(r) for u, r in pairs if u) / unanswerable
            cells.append(f"{kept:.2f} {said:.2f}")
        print(f"  {t:.2f}  {cells[0]}  |  {cells[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="zsh", choices=["zsh", "pydoc"])
    parser.add_argument("--modes", default="both,generate,quote")
    parser.add_argument("--seed", action="store_true", help="add the seed prompt's anchor")
    parser.add_argument("--limit", type=int, default=0, help="the first N questions only")
    parser.add_argument("--part", choices=["all", "even", "odd"], default="all",
                        help="every question, or those at even (odd) positions in the file")
    parser.add_argument("--json", type=Path, help="write every answer here")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the chatbot, e.g. RAG_FOCUS_TOKENS=200")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)

    pages, questions = load_set(args.set)
    if args.part != "all":
        questions = questions[args.part == "odd"::2]
    if args.limit:
        questions = questions[:args.limit]
    has_facts = any(q.facts for q in questions)
    data = collection_dir(args.set, pages)
    threshold = Settings().rag_min_evidence
    answers: dict[str, list[Result]] = {}
    with llmserver(LLM_N_CTX="4096") as llm:
        for mode in args.modes.split(","):
            with chatbot(llm, data, RAG_ANSWER=mode, RAG_MIN_EVIDENCE="-1",
                         USER_MESSAGES_PER_MINUTE="0", **extra,
                         CHAT_TEMPERATURE="0", CHAT_MAX_TOKENS=MAX_TOKENS) as url, \
                    ChatClient(url) as client:
                ask(client, "warm-up: what is this about?")
                answers[mode] = [ask(client, q.text) for q in questions]
        if args.seed:
            first = answers[args.modes.split(",")[0]]
            for name, texts in seed_answers(llm, first).items():
                answers[name] = [Result(r.question, r.kind, text, None, r.evidence, r.unknown,
                                        r.first_token_s, None) for r, text in zip(
                                            first, texts, strict=True)]

    kinds = {k: sum(q.kind == k for q in questions) for k in ("task", "name", "unanswerable")}
    print(f"set {args.set}: {len(pages)} pages, {len(questions)} questions {kinds}, "
          f"k={Settings().rag_k}, default evidence threshold {threshold}")
    # The seed product never says "not covered": its anchor is scored without a threshold.
    lines = [report(mode, questions, results, -1.0 if mode.startswith("seed") else threshold,
                    has_facts) for mode, results in answers.items()]
    sweep(questions, next(iter(answers.values())))
    if args.json:
        for results in answers.values():
            for q, r in zip(questions, results, strict=True):
                r.kind = q.kind
        args.json.write_text(json.dumps({"summary": lines, "answers": {
            mode: [asdict(r) for r in results] for mode, results in answers.items()}},
            indent=1))


if __name__ == "__main__":
    main()

"""How often chatbot/chat/intents.py reads a message right: on bench/intent_phrasings.json,
phrasings of summaries, comparisons, inventories and ordinary questions written before the
patterns were first run against them. Prints the share of messages whose kind is right, the
share of whole-document requests whose targets are also right, and every miss.

    .venv/bin/python bench/intents.py [intent_phrasings_heldout.json]

The second set, intent_phrasings_heldout.json, was written after the patterns had been fixed
against the first, to see how they do on phrasings they were not tuned on.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatbot.chat.intents import normalised, recognise  # noqa: E402


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "intent_phrasings.json"
    cases = json.loads((ROOT / "bench" / name).read_text())["phrasings"]
    kinds_right = targets_right = requests = 0
    misses: list[str] = []
    confusion: Counter[tuple[str, str]] = Counter()
    for case in cases:
        found = recognise(case["text"])
        kind = found.kind if found else None
        confusion[(str(case["kind"]), str(kind))] += 1
        if kind != case["kind"]:
            misses.append(f"kind    {case['text']!r}: {kind}, expected {case['kind']}")
            continue
        kinds_right += 1
        if kind is None:
            continue
        requests += 1
        got = [normalised(t) for t in found.targets] if found else []
        expected = [normalised(t) for t in case["targets"]]
        if got == expected:
            targets_right += 1
        else:
            misses.append(f"target  {case['text']!r}: {got}, expected {expected}")
    wanted = sum(1 for c in cases if c["kind"] is not None)
    print(f"{len(cases)} messages ({wanted} whole-document requests, "
          f"{len(cases) - wanted} ordinary)")
    print(f"kind right: {kinds_right}/{len(cases)} ({kinds_right / len(cases):.0%})")
    print(f"kind and targets right, of the requests: {targets_right}/{wanted} "
          f"({targets_right / wanted:.0%})")
    print("expected -> found: " + ", ".join(f"{e}->{f} {n}"
                                              for (e, f), n in sorted(confusion.items())))
    for miss in misses:
        print(miss)


if __name__ == "__main__":
    main()

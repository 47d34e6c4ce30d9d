"""What a GRPO run sampled and paid for, from the ``completions.jsonl`` of ``train grpo --log-completions``.

    python train/rollouts.py runs/grpo/completions.jsonl [--every 50]

Per task: prompts, completions, mean reward, and the groups whose completions all scored alike
(their advantages are all 0: GRPO learns nothing from them). For counting, also the answer 0 by
truth: how often it is sampled, the groups that sampled only zeros or none, and the summed
advantage of the completions answering 0 (the advantages of a group sum to 0, so this is the
group's push on choosing 0); ``--every N`` splits those figures into blocks of N steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geocot_cli.trace import parse_count, parse_trace  # noqa: E402


def load_groups(path: Path) -> dict[tuple[int, int], list[dict]]:
    """Completions grouped by (step, prompt); count completions gain ``n``, the number they answer."""
    groups: dict[tuple[int, int], list[dict]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
                if row["task"] == "count":
                    row["n"] = parse_count(parse_trace(row["completion"], "pixel", (1000, 1000)).answer)
                groups[(row["step"], row["prompt"])].append(row)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path} line {number} is not a completions.jsonl row "
                                 f"({type(exc).__name__}: {exc})") from None
    return groups


def alike(group: list[dict]) -> bool:
    return len({round(r["reward"], 6) for r in group}) == 1


def count_block(groups: list[list[dict]], label: str) -> str:
    rows = [r for g in groups for r in g]
    zeros = [r for r in rows if r["n"] == 0]
    only = sum(all(r["n"] == 0 for r in g) for g in groups)
    none = sum(all(r["n"] != 0 for r in g) for g in groups)
    push = sum(r["advantage"] for r in zeros)
    return (f"  {label}: {len(groups)} prompts, answer 0 in {len(zeros) / max(1, len(rows)):.0%} of completions, "
            f"groups all 0 / none 0: {only} / {none}, summed advantage of the answer 0: {push:+.1f}")


def fail(message: str) -> None:
    """One line on stderr and exit status 2, as geocot's own commands do with bad input."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("completions", type=Path)
    ap.add_argument("--every", type=int, default=0, help="Split the count figures into blocks of N steps.")
    args = ap.parse_args(argv)
    if not args.completions.is_file():
        fail(f"{args.completions} not found (train grpo writes it with --log-completions)")
    try:
        groups = load_groups(args.completions)
    except ValueError as exc:
        fail(str(exc))
    by_task: dict[str, list[list[dict]]] = defaultdict(list)
    for g in groups.values():
        by_task[g[0]["task"]].append(g)
    for task, gs in sorted(by_task.items()):
        rows = [r for g in gs for r in g]
        print(f"{task}: {len(gs)} prompts, {len(rows)} completions, mean reward "
              f"{sum(r['reward'] for r in rows) / len(rows):.3f}, groups scored alike {sum(map(alike, gs))}")
    count = sorted(((s, g) for (s, _), g in groups.items() if g[0]["task"] == "count"), key=lambda x: x[0])
    if not count:
        return
    blocks: dict[int, list[list[dict]]] = defaultdict(list)
    for step, g in count:
        blocks[(step - 1) // args.every if args.every else 0].append(g)
    for b, gs in sorted(blocks.items()):
        if args.every:
            print(f"count, steps {b * args.every + 1}-{(b + 1) * args.every}:")
        else:
            print("count:")
        print(count_block([g for g in gs if g[0]["truth"].get("count") == 0], "truth 0"))
        print(count_block([g for g in gs if g[0]["truth"].get("count") != 0], "truth >= 1"))


if __name__ == "__main__":
    main()

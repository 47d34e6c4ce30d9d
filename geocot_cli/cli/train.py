"""``geocot train sft`` and ``geocot train grpo``: the paper's two-stage recipe on your own data.

Every flag is a field of :class:`~geocot_cli.train.config.SFTOptions` /
:class:`~geocot_cli.train.config.GRPOOptions` (``--learning-rate`` is ``learning_rate``), built here
from the dataclass so the names, help texts and recipe keys cannot drift apart. ``--config
recipe.yaml`` reads a recipe; flags given on the command line override it; ``--print-config``
prints the resolved recipe and exits. Progress goes to stderr; ``--json`` prints a summary on stdout.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ._common import console, print_json, state, user_errors

__all__ = ["app", "grpo", "sft"]

app = typer.Typer(
    help="Align a model on Geo-CoT data: `sft` (Stage I, traces) then `grpo` (Stage II, task rewards).",
    no_args_is_help=True,
)

_CLI_TYPES = {int: Optional[int], float: Optional[float], str: Optional[str], bool: Optional[bool]}


def _cli_type(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    base = args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) else tp
    if typing.get_origin(base) is tuple:
        return Optional[str]  # comma-separated values
    return _CLI_TYPES.get(base, Optional[str])


def _progress_callback(stage: str):
    """A rich progress bar on stderr (none with --quiet or off a terminal), and its closer."""
    if state.quiet or not console.is_terminal:
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[metrics]}"), console=console, transient=True)
    bar.start()
    task = bar.add_task(stage, total=None, metrics="")

    def update(step: int, total: int, record: typing.Mapping[str, Any]) -> None:
        keys = ("loss", "eval_loss") if stage == "sft" else ("reward", "kl", "completion_length")
        shown = " ".join(f"{k} {record[k]:.4g}" for k in keys if isinstance(record.get(k), (int, float)))
        bar.update(task, completed=step, total=total, metrics=shown)

    return update, bar.stop


def _make_command(stage: str):
    from ..train.config import GRPOOptions, SFTOptions, field_help

    cls = SFTOptions if stage == "sft" else GRPOOptions
    params = [
        inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[Path], typer.Option("--config", "-c", help="Recipe YAML naming options (flags override it).",
                                         rich_help_panel="Recipe")]),
        inspect.Parameter("print_config", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
            bool, typer.Option("--print-config", help="Print the resolved recipe YAML and exit.",
                               rich_help_panel="Recipe")]),
        inspect.Parameter("json_out", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
            bool, typer.Option("--json", help="Print a JSON summary of the run on stdout.", rich_help_panel="Recipe")]),
    ]
    defaults = {f: getattr(cls, "__dataclass_fields__")[f].default for f in field_help(cls)}
    for name, (tp, text, panel) in field_help(cls).items():
        flag = "--" + name.replace("_", "-")
        cli_tp = _cli_type(tp)
        decls = [f"{flag}/--no-{flag[2:]}"] if cli_tp == Optional[bool] else [flag]
        default = defaults[name]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = text if name in ("model", "data", "out") and not default else f"{text} (default: {shown})"
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            cli_tp, typer.Option(*decls, help=help_text, rich_help_panel=panel, show_default=False)]))

    def command(**kwargs: Any) -> None:
        with user_errors():
            from ..train.config import load_options, recipe_yaml

            config = kwargs.pop("config")
            print_config = kwargs.pop("print_config")
            json_out = kwargs.pop("json_out")
            options = load_options(cls, config, kwargs)
            if print_config:
                sys.stdout.write(recipe_yaml(options))
                return
            _run(stage, options, json_out)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = stage
    return command


def _run(stage: str, options: Any, json_out: bool) -> None:
    if stage == "sft":
        from ..train.sft import train_sft as run
    else:
        from ..train.grpo import train_grpo as run
    update, close = _progress_callback(stage)
    try:
        result = run(options, progress=update)
    finally:
        close()
    last = next((r for r in reversed(result.history) if not r.get("final")), {})
    final = next((r for r in reversed(result.history) if r.get("final")), {})
    summary = {"out": str(result.out), "steps": result.steps, "last": last, "final": final,
               "resumed_from": str(result.resumed_from) if result.resumed_from else None}
    if json_out:
        print_json(summary)
    key = "loss" if stage == "sft" else "reward"
    figure = f"; last {key} {last[key]:.4g}" if isinstance(last.get(key), (int, float)) else ""
    console.print(f"{stage}: {result.steps} steps{figure}; model saved to {result.out} "
                  f"(try: geocot ask SCENE \"...\" --model {result.out})", soft_wrap=True)


sft = app.command("sft", help=(
    "Stage I: fine-tune on Geo-CoT traces (next-token loss on the assistant turn only). "
    "Data: the SFT JSONL of `geocot data backfill`."))(_make_command("sft"))
grpo = app.command("grpo", help=(
    "Stage II: GRPO with the paper's task rewards, from the SFT model. "
    "Data: any sample JSONL with ground truth (e.g. backfill's .rl.jsonl)."))(_make_command("grpo"))

"""The command-line reference (docs/cli.md), generated from the commands themselves.

`python -m chengzhi.clidoc > docs/cli.md` regenerates it; a test fails when the file is out of date.
"""

from __future__ import annotations

from typing import Any

import typer.main


def _render(command: Any, path: list[str], out: list[str]) -> None:
    name = " ".join(path)
    if hasattr(command, "commands"):
        for sub_name in sorted(command.commands):
            _render(command.commands[sub_name], [*path, sub_name], out)
        return
    out.append(f"## `{name}`\n")
    help_text = (command.help or "").strip()
    if help_text:
        out.append(help_text + "\n")
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [p for p in command.params if p.param_type_name == "option" and p.name != "help"]
    usage = " ".join(
        [name, *(a.name.upper() if a.required else f"[{a.name.upper()}]" for a in arguments if a.name)]
    )
    out.append(f"```\n{usage}{' [OPTIONS]' if options else ''}\n```\n")
    rows = []
    for argument in arguments:
        rows.append(
            f"| `{(argument.name or '').upper()}` | argument | {getattr(argument, 'help', '') or ''} |"
        )
    for option in options:
        flags = ", ".join(f"`{o}`" for o in [*option.opts, *option.secondary_opts])
        default = option.default if option.default not in (None, False, ()) and not option.is_flag else ""
        default_text = f" (default: `{default}`)" if default != "" else ""
        rows.append(f"| {flags} | option | {(option.help or '').strip()}{default_text} |")
    if rows:
        out.append("| name | kind | meaning |\n|---|---|---|")
        out.extend(rows)
        out.append("")


def cli_reference() -> str:
    from chengzhi.cli import app

    root = typer.main.get_command(app)
    out = [
        "# Command-line reference",
        "",
        "Generated from the commands by `python -m chengzhi.clidoc`; do not edit by hand.",
        "",
    ]
    _render(root, ["chengzhi"], out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")

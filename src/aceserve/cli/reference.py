"""The CLI reference (docs/cli.md), generated from the commands' own --help.

`make docs` rewrites it; a test fails when it is out of date, so the docs never drift from the code.
"""

from __future__ import annotations

import click

HEADER = """# CLI reference

Generated from `aceserve --help` by `make docs`; do not edit by hand.
"""


def render_reference(group: click.Group) -> str:
    sections = [HEADER]
    for path, context in _walk(group, "aceserve", None):
        sections.append(f"## {path}\n\n```text\n{context.get_help()}\n```\n")
    return "\n".join(sections)


def _walk(command: click.Command, name: str, parent: click.Context | None) -> list[tuple[str, click.Context]]:
    """Each command with a context chained to its parents', so inherited settings (-h) show."""
    settings = {"terminal_width": 100, "max_content_width": 100, **command.context_settings}
    context = click.Context(command, parent=parent, info_name=name, **settings)
    path = context.command_path
    found = [(path, context)]
    if isinstance(command, click.Group):
        for child in sorted(command.commands):
            found += _walk(command.commands[child], child, context)
    return found


if __name__ == "__main__":
    from aceserve.cli.main import cli

    print(render_reference(cli), end="")

"""The README is part of the interface: its Python example runs as written, it lists every command,
and every option of the command line is documented in `--help` and in docs/cli.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from indexer.cli.app import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMMAND_LINE_PAGE = (ROOT / "docs" / "cli.md").read_text()


def python_example() -> str:
    section = README[README.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the default model falls back to the shipped one
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "wedge.md").write_text(
        "# Oblique shocks\n\nA supersonic stream meeting a wedge forms an attached shock wave.\n"
    )
    (tmp_path / "notes" / "wings.txt").write_text("Wings generate lift at low speed.\n")
    records = [
        {
            "id": "a1",
            "title": "Shock waves",
            "text": "Normal shock waves in nozzles.",
            "metadata": {"year": 1961},
        },
        {
            "id": "a2",
            "title": "Boundary layers",
            "text": "Viscous flow near walls.",
            "metadata": {"year": 1958},
        },
    ]
    (tmp_path / "abstracts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    example = python_example()
    assert example.splitlines()[0] == "from indexer import Collection, Settings"  # one import
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 added, 0 skipped"
    assert out[1].split()[1] == "a1", "the only hit from 1960 on"
    assert "'mean'" in out[-2] and "'spark-nlp'" in out[-2]
    assert out[-1] == "4 True"


def commands() -> list[tuple[str, click.Command]]:
    return sorted(cli.commands.items())


def options(command: click.Command) -> list[str]:
    return [p.opts[0] for p in command.params if isinstance(p, click.Option)]


def test_top_level_help_lists_every_command() -> None:
    output = CliRunner().invoke(cli, ["--help"]).output
    listed = re.findall(r"^  (\w+)\s", output.split("Commands:")[1], re.M)
    assert sorted(listed) == sorted(cli.commands)


def command_row(page: str, name: str) -> re.Match[str] | None:
    return re.search(rf"^\| `{name}[ `].*$", page, re.M)


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_in_the_readme_table(name: str) -> None:
    assert command_row(README, name), f"README's command table has no row for {name}"


@pytest.mark.parametrize(("name", "command"), commands())
def test_every_option_is_in_help_and_the_command_line_page(
    name: str, command: click.Command
) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    row = command_row(COMMAND_LINE_PAGE, name)
    assert row, f"docs/cli.md's command table has no row for {name}"
    for option in options(command):
        assert re.search(rf"(^|\s){re.escape(option)}[\s,=]", result.output), (name, option)
        assert re.search(rf"[`\s]{re.escape(option)}[`\s]", row.group(0)), (name, option)

"""What the README names must be there. Every command it prints, in a block or inline in the
text, names an ssgan command and options that exist, and every option it mentions on its own
belongs to an ssgan command or to a benchmark script; every link of the README and of the reports
leads to a file or a section that exists. benchmarks/readme_commands.py runs the blocks; this
reads all of them (those it leaves out for their length included) and the inline ones it cannot
run, so that a renamed option or a moved report cannot stay named in the text."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click

from conftest import ROOT
from ssgan.cli import main

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def command_options() -> dict[str, set[str]]:
    ctx = click.Context(main)
    found = {}
    for name in main.list_commands(ctx):
        params = main.get_command(ctx, name).params
        found[name] = {o for p in params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
    return found


def script_options(path: Path) -> set[str]:
    """The options a benchmark script declares: each ``--name`` given to argparse's ``add_argument``
    in its source (not a string it merely passes on to ssgan)."""
    calls = [node for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument"]
    return {a.value for call in calls for a in call.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")}


def invocations(readme: Path, blocks) -> list[list[str]]:
    """The words of each command of the README: each command of a fenced bash block, as
    ``blocks`` (readme_commands.py's, which runs them) finds them (a quotation may run over lines;
    ``&&``, ``;`` and ``|`` end a command as a line's end does), and each inline code span that
    starts as a command or with an option."""
    found = []
    for block in (b.text for b in blocks(readme) if b.lang == "bash"):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines(keepends=True):
            pending += line
            try:
                words = list(shlex.shlex(pending, posix=True, punctuation_chars=True))
            except ValueError:
                continue  # (a quotation that goes on to the next line)
            pending, command = "", []
            for word in words + [";"]:
                if word in ("&&", "||", ";", "|"):
                    found += [command] if command else []
                    command = []
                else:
                    command.append(word)
    prose = re.sub(r"```.*?```", "", readme.read_text(), flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        if re.match(r"(ssgan|python|torchrun)\b", span):
            found.append(shlex.split(span, comments=True))
        elif span.startswith("--"):
            found.append(span.split())  # (options named in a sentence, an error message's among them)
    return found


def problems(readme: Path, root: Path, blocks) -> list[str]:
    """What the README names that does not exist: ``ssgan CMD`` with an unknown command, a
    benchmark script that is not there, an option that CMD or the script does not have, or a lone
    ``--option`` that no command and no script has."""
    commands = command_options()
    scripts = {p.relative_to(root).as_posix(): script_options(p) for p in (root / "benchmarks").glob("*.py")}
    every = set().union(*commands.values(), *scripts.values())
    found = []
    for words in invocations(readme, blocks):
        text = " ".join(words)
        for lead in (["torchrun"], ["python", "-m", "ssgan"]):  # (torchrun ... -m ssgan CMD: the part from ssgan)
            if words[:len(lead)] == lead and "ssgan" in words:
                words = words[words.index("ssgan"):]
        if words[:1] == ["ssgan"] and len(words) > 1 and not words[1].startswith("-"):
            known = commands.get(words[1])
            if known is None:
                found.append(f"{text!r}: no command {words[1]!r}")
                continue
        elif words[:1] == ["python"] and len(words) > 1 and words[1].startswith("benchmarks/"):
            known = scripts.get(words[1])
            if known is None:
                found.append(f"{text!r}: no script {words[1]}")
                continue
            known |= {"--help", "-h"}
        elif words[:1] and words[0].startswith("--"):
            known = every
        else:
            continue  # another program's command, or code
        found += [f"{text!r}: no option {o}" for w in words if w.startswith("--")
                  for o in OPTION.findall(w.split("=")[0])[:1] if o not in known]
    return found


def test_the_readme_names_only_commands_and_options_that_exist(benchmark_script):
    blocks, readme = benchmark_script("readme_commands").blocks, ROOT / "README.md"
    assert sum("ssgan" in words for words in invocations(readme, blocks)) > 50  # (its commands were read)
    assert problems(readme, ROOT, blocks) == []


def test_a_misspelt_command_or_option_is_found(benchmark_script, tmp_path):
    """The control: a README of nine commands, each kind of slip among them beside a right one."""
    readme = tmp_path / "README.md"
    readme.write_text("```bash\nssgan fit --labels 100 \\\n    --epoch 3 && ssgan report runs --out r\n"
                      "python benchmarks/speed.py --iterations 5 --no-such-flag\npython benchmarks/sped.py\n"
                      "python benchmarks/ablate.py --epochs 2 --tag x\n```\n"
                      "Then `ssgan fitt --labels 10`, `--entropy-weight 0.1` and `--entropyweight 0.1`; "
                      "`torchrun --standalone --nproc-per-node 2 -m ssgan fit --lable 3`.\n")
    assert problems(readme, ROOT, benchmark_script("readme_commands").blocks) == [
        "'ssgan fit --labels 100 --epoch 3': no option --epoch",
        "'python benchmarks/speed.py --iterations 5 --no-such-flag': no option --no-such-flag",
        "'python benchmarks/sped.py': no script benchmarks/sped.py",
        "'python benchmarks/ablate.py --epochs 2 --tag x': no option --tag",  # (a string it passes on to ssgan fit)
        "'ssgan fitt --labels 10': no command 'fitt'",
        "'--entropyweight 0.1': no option --entropyweight",
        "'torchrun --standalone --nproc-per-node 2 -m ssgan fit --lable 3': no option --lable",
    ]


def broken_links(markdown: str, folder: Path) -> list[str]:
    """The links of a markdown page that lead nowhere: a file or folder that is not there (relative
    to the page's folder), or a ``#section`` of the page with no heading of that name (GitHub's
    anchors: the heading in lower case, spaces as hyphens, other punctuation dropped)."""
    headings = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", markdown, flags=re.M)}
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", markdown):
        path, _, anchor = target.partition("#")
        if re.match(r"[a-z]+:", path):
            continue  # (a web address)
        if path and not (folder / path).exists():
            found.append(target)
        elif not path and anchor not in headings:
            found.append(target)
    return found


def test_the_readme_and_the_reports_link_to_what_is_there():
    pages = [ROOT / "README.md", *sorted((ROOT / "reports").rglob("*.md"))]
    assert len(pages) > 20
    assert {p.relative_to(ROOT).as_posix(): broken_links(p.read_text(), p.parent) for p in pages
            if broken_links(p.read_text(), p.parent)} == {}


def test_a_link_to_nothing_is_found(tmp_path):
    (tmp_path / "there.md").write_text("x")
    page = ("# Set-up\n## On a GPU: CUDA graphs\n[a](there.md) [b](gone.md) [c](#set-up) [d](#on-a-gpu-cuda-graphs) "
            "[e](#setup) [f](https://example.org/x.md) [g](there.md#set-up)\n")
    assert broken_links(page, tmp_path) == ["gone.md", "#setup"]

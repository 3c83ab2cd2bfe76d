"""benchmarks/readme_commands.py finds the README's bash and Python blocks, leaves out the ones
it says it leaves out (with the reason), and tells a block that ran through from one that
failed, in the folder it is given."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import ROOT


def test_blocks_are_read_by_language_and_line(tmp_path, benchmark_script):
    rc = benchmark_script("readme_commands")
    readme = tmp_path / "README.md"
    readme.write_text("# t\n\n```bash\nssgan fit --labels 100 --epochs 1\n```\n\n```\nDIR/train/CLASS/\n```\n"
                      "text\n```python\nprint('hi')\n```\n```bash\ntorchrun --rdzv-endpoint HOST:29400 -m ssgan fit\n```\n"
                      "- a list item:\n\n  ```bash\n  ssgan fit --from runs/r \\\n    --epochs 3\n  ```\n")
    found = rc.blocks(readme)
    assert [(b.line, b.lang, b.first) for b in found] == [
        (3, "bash", "ssgan fit --labels 100 --epochs 1"), (11, "python", "print('hi')"),
        (14, "bash", "torchrun --rdzv-endpoint HOST:29400 -m ssgan fit"), (19, "bash", "ssgan fit --from runs/r \\")]
    assert found[-1].text == "ssgan fit --from runs/r \\\n  --epochs 3\n"  # (the list item's indent taken off)
    assert [rc.skip_reason(b) for b in found] == [None, None, "needs several machines that reach a rendezvous HOST", None]


def test_the_readme_s_own_blocks_include_the_first_fit_which_is_not_run(benchmark_script):
    rc = benchmark_script("readme_commands")
    found = rc.blocks(ROOT / "README.md")
    first = [b for b in found if b.first == "pip install -e . && ssgan fit --labels 100"]
    assert len(first) == 1 and "an hour or more" in rc.skip_reason(first[0])
    assert sum(rc.skip_reason(b) is None for b in found) >= 5  # the worked examples do run


def test_a_block_runs_in_the_folder_and_a_failure_is_told_apart(tmp_path, benchmark_script):
    rc = benchmark_script("readme_commands")
    ok = rc.run(rc.Block(1, "bash", "echo one > made.txt\ncat made.txt\n"), tmp_path, timeout=60)
    assert ok["status"] == "ok" and ok["exit"] == 0 and ok["tail"] == ["one"]
    assert (tmp_path / "made.txt").read_text() == "one\n"
    py = rc.run(rc.Block(2, "python", "from pathlib import Path\nprint(Path('made.txt').read_text().strip())\n"),
                tmp_path, timeout=60)
    assert py["status"] == "ok" and py["tail"] == ["one"]
    # bash -e: a failing command stops the block, and what follows it does not run
    bad = rc.run(rc.Block(3, "bash", "false\ntouch after.txt\n"), tmp_path, timeout=60)
    assert bad["status"] == "failed" and bad["exit"] == 1 and not (tmp_path / "after.txt").exists()


def test_a_block_past_its_timeout_is_stopped_with_what_it_started(tmp_path, benchmark_script):
    rc = benchmark_script("readme_commands")
    slow = rc.run(rc.Block(4, "bash", "sleep 60 &\necho $! > child.pid\nwait\n"), tmp_path, timeout=2)
    assert slow["status"] == "failed" and slow["exit"] is None and slow["tail"][0] == "timed out after 2 s"
    assert slow["seconds"] < 30  # not after the sleep's 60 s: killing bash alone leaves it holding the output
    child = int((tmp_path / "child.pid").read_text())

    def running() -> bool:
        try:
            return "State:\tZ" not in Path(f"/proc/{child}/status").read_text()
        except FileNotFoundError:
            return False

    for _ in range(50):  # (killed at once; the reaping of an orphan may take a moment)
        if not running():
            break
        time.sleep(0.1)
    assert not running(), f"the block's child {child} still runs"

"""Summarise the per-dataset reports of the vector-data study (issue 14) in one table.

    python benchmarks/vector_summary.py reports/vectors

Reads ``DIR/*/report.json`` (one ``ssgan report`` per dataset, made by
``bash benchmarks/make_reports.sh vectors``) and writes ``DIR/README.md``: test accuracy at the
last epoch, mean ± std over seeds, for ssgan and each baseline on the same splits, and the gain
of ssgan over the same network trained on the labeled rows alone. ``DIR/notes.md``, if present,
is appended (the reading of the numbers, written by hand).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from options import run_script

METHODS = ("ssgan", "same-net", "label-spreading", "logreg")


def cell(m: dict | None) -> str:
    if m is None:
        return "-"
    return f"{100 * m['test_acc_mean']:.1f} ± {100 * m['test_acc_std']:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="reports/vectors",
                        help="The folder of per-dataset reports; its README.md is written.")
    root = Path(parser.parse_args().root)
    if not any(root.glob("*/report.json")):
        parser.error(f"{root} holds no DIR/*/report.json: make them with bash benchmarks/make_reports.sh vectors")
    rows = []
    for path in sorted(root.glob("*/report.json")):
        r = json.loads(path.read_text())
        m = r["methods"]
        ssl, same = m.get("ssgan"), m.get("same-net")
        wins = (sum(a > b for a, b in zip(ssl["test_acc"], same["test_acc"])) if ssl and same else None)
        gain = f"{100 * (ssl['test_acc_mean'] - same['test_acc_mean']):+.1f} ({wins} of {len(ssl['seeds'])} seeds)" \
            if wins is not None else "-"
        val = f"{100 * ssl['val_acc_mean']:.1f}" if ssl and ssl.get("val_acc_mean") is not None else "-"
        rows.append(f"| [{path.parent.name}]({path.parent.name}/report.md) | {r['labels']} | {ssl['n_test'] if ssl else '-'} | "
                    f"{val} | " + " | ".join(cell(m.get(k)) for k in METHODS) + f" | {gain} |")
    lines = ["# Vector data: ssgan against its baselines", "",
             "Test accuracy % at the last epoch, mean ± std over seeds 1-5; every method of a row uses the same "
             "labeled split, validation rows and test set per seed. The gain is ssgan minus the same network "
             "trained without unlabeled data, with the number of seeds on which ssgan was better. Made by "
             "`bash benchmarks/make_reports.sh vectors`; each dataset's own report has the commands and curves.", "",
             "| dataset | labels | test rows | ssgan val % | ssgan | same-net | label-spreading | logreg | ssgan - same-net |",
             "|---|---|---|---|---|---|---|---|---|", *rows]
    notes = root / "notes.md"
    if notes.is_file():
        lines += ["", notes.read_text().strip()]
    (root / "README.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {root / 'README.md'} ({len(rows)} datasets)")


if __name__ == "__main__":
    run_script(main)

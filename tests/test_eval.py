"""`ssgan eval RUN` beside the supervised-only baselines trained on the run's own labels."""

import json

from click.testing import CliRunner

from ssgan.cli import main
from ssgan.runs import read_metrics


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_eval_shows_the_baselines_trained_on_the_runs_labels(tmp_path):
    """Those that `baseline --run RUN` put beside the run, with their last epoch's accuracy and
    the run's gain over each; a baseline of another seed's labels is not among them, nor is
    one where the rows scored are not the ones the baselines were scored on (--split train).
    Without any, one line says how to train them."""
    for seed in (1, 2):
        r = invoke("fit", "--dataset", "digits", "--labels", 50, "--epochs", 1, "--seed", seed, "--out", tmp_path,
                   "--quiet")
        assert r.exit_code == 0, r.output
    run, other = sorted(p for p in tmp_path.iterdir())
    r = invoke("eval", run)
    assert r.exit_code == 0 and (f"No supervised-only baselines on its labels beside it: `ssgan baseline --run {run}` "
                                 "trains same-net and logreg on them") in r.output, r.output
    assert json.loads(invoke("eval", run, "--json").stdout)["baselines"] == []
    for r in (invoke("baseline", "--run", run, "--method", "logreg", "--method", "same-net", "--epochs", 1),
              invoke("baseline", "--run", other, "--method", "logreg")):
        assert r.exit_code == 0, r.output
    r = json.loads(invoke("eval", run, "--json").stdout)
    shown = {b["method"]: b for b in r["baselines"]}
    assert sorted(b["method"] for b in r["baselines"]) == ["logreg", "same-net"]  # (not seed 2's logreg)
    for method, b in shown.items():
        last = read_metrics(b["run"])[-1]
        assert json.loads((tmp_path / b["run"] / "split.json").read_text())["seed"] == 1
        assert (b["accuracy"], b["errors"]) == (last["test_acc"], last["test_errors"])
    text = invoke("eval", run).output
    assert "supervised-only baselines on the same labels, beside the run" in text
    assert f"{r['accuracy'] - shown['logreg']['accuracy']:+.4f}" in text and "No supervised-only" not in text
    assert "baselines" not in json.loads(invoke("eval", run, "--split", "train", "--json").stdout)
    # the baseline's own eval: the other baseline beside it, not itself
    r = json.loads(invoke("eval", shown["same-net"]["run"], "--json").stdout)
    assert [b["method"] for b in r["baselines"]] == ["logreg"]


def test_eval_plot_draws_the_confusion_matrix_it_prints(tmp_path):
    """--plot writes the PNG of the matrix that --json gives, into a folder it makes; a name
    that is no .png, or a folder that is a file, is one line before any work, writing nothing."""
    import matplotlib.image

    r = invoke("fit", "--dataset", "digits", "--labels", 50, "--epochs", 1, "--out", tmp_path / "runs", "--quiet")
    assert r.exit_code == 0, r.output
    (run,) = (tmp_path / "runs").iterdir()
    png = tmp_path / "figures" / "confusion.png"
    r = invoke("eval", run, "--plot", png)
    assert r.exit_code == 0 and f"wrote {png}" in r.output, r.output
    picture = matplotlib.image.imread(png)
    assert picture.ndim == 3 and min(picture.shape[:2]) > 300
    assert sorted(p.name for p in png.parent.iterdir()) == ["confusion.png"]  # (no temporary file left)
    scored = json.loads(invoke("eval", run, "--plot", png, "--json").stdout)
    assert scored["plot"] == str(png) and len(scored["confusion_matrix"]) == 10
    for bad, says in ((tmp_path / "confusion.pdf", "give a name that ends in .png"),
                      (tmp_path / "a-file" / "c.png", "is a file, not a folder")):
        (tmp_path / "a-file").write_text("")
        r = invoke("eval", run, "--plot", bad)
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, r.output
        assert not bad.exists()


def test_confusion_plot_writes_counts_where_they_read_and_leaves_zeros_blank(tmp_path):
    """The cells show their counts, none where the count is 0 (the errors stand out); the colour
    is on a log scale, so white text on the dark cells and black on the light ones; past
    CONFUSION_VALUES_MOST classes no cell is written, and the names label the axes."""
    import numpy as np

    from ssgan.plots import CONFUSION_VALUES_MOST, plot_confusion

    cm = np.array([[980, 0, 20], [3, 1000, 0], [0, 1, 7]])
    shown = plot_confusion(cm, ["cat", "dog", "fox"], "three", tmp_path / "cm.png")
    texts = [[t.get_text() for t in row] for row in shown.text_]
    assert texts == [["980", "", "20"], ["3", "1000", ""], ["", "1", "7"]]
    colours = [[t.get_color() for t in row] for row in shown.text_]
    assert colours[0][0] == colours[1][1] == "white" and colours[1][0] == colours[2][1] == "black"
    assert [t.get_text() for t in shown.ax_.get_yticklabels()] == ["cat", "dog", "fox"]
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    k = CONFUSION_VALUES_MOST + 1
    many = plot_confusion(np.eye(k, dtype=int) * 5, [str(i) for i in range(k)], "many", tmp_path / "many.png")
    assert many.text_ is None and (tmp_path / "many.png").is_file()

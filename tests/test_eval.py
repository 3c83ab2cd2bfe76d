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

"""Sample-quality scores on hand-built data."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import cuda
from ssgan.errors import SSGANError
from ssgan.quality import classifier_score, frechet_distance, precision_recall


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(2000, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_grows_with_a_known_shift():
    """Same covariance, means apart by d: the distance is ||d||^2 (up to sampling noise)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20000, 4)), rng.normal(size=(20000, 4))
    previous = frechet_distance(a, b)
    assert previous < 0.01
    for shift in (0.5, 1.0, 2.0):
        fd = frechet_distance(a, b + shift)
        assert fd == pytest.approx(4 * shift ** 2, rel=0.05) and fd > previous
        previous = fd


def test_frechet_distance_of_scaled_gaussians_hand_computed():
    """1-D: N(0, 1) against N(0, 4): (1 + 4 - 2 * 2) = 1."""
    rng = np.random.default_rng(2)
    assert frechet_distance(rng.normal(size=(50000, 1)), 2 * rng.normal(size=(50000, 1))) == pytest.approx(1.0, rel=0.05)


def test_classifier_score_bounds():
    k = 10
    assert classifier_score(np.tile(np.eye(k)[3], (100, 1))) == pytest.approx(1.0)  # one class for all
    assert classifier_score(np.full((100, k), 1.0 / k)) == pytest.approx(1.0)  # no confidence
    assert classifier_score(np.tile(np.eye(k), (10, 1))) == pytest.approx(k, rel=1e-6)  # confident, even
    half = np.tile(np.eye(k)[:2], (50, 1))  # confident, two classes
    assert classifier_score(half) == pytest.approx(2.0, rel=1e-6)


def test_precision_recall_on_hand_built_sets():
    grid = np.array([[i, j] for i in range(10) for j in range(10)], dtype=float)  # spacing 1
    assert precision_recall(grid, grid, k=3) == (1.0, 1.0)
    far = grid + 100.0
    assert precision_recall(grid, far, k=3) == (0.0, 0.0)
    # samples that cover only the left half: all of them are real-looking, half the real is covered
    left = grid[grid[:, 0] < 5]
    precision, recall = precision_recall(grid, left, k=3)
    assert precision == 1.0 and 0.5 <= recall < 0.8


def test_radii_found_in_parts_are_those_found_at_once(monkeypatch):
    """The k-th-neighbour radii are asked for a part of the rows at a time (so that Ctrl-C is
    taken between parts): parts that do not divide the rows give the scores of one call."""
    import ssgan.quality

    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(103, 5)), rng.normal(size=(61, 5)) + 0.3
    at_once = precision_recall(real, fake, k=3)
    monkeypatch.setattr(ssgan.quality, "RADIUS_ROWS", 10)
    assert precision_recall(real, fake, k=3) == at_once and 0 < at_once[0] < 1 and 0 < at_once[1] < 1


def test_runs_of_one_process_score_their_samples_in_turn(monkeypatch):
    """Two stacked seeds scoring at once made scikit-learn's neighbour search and another
    thread's end of its BLAS limit race, and OpenBLAS warned that the process may hang; scores
    of threads of one process now take turns (and give what they gave alone)."""
    import threading
    import time

    import ssgan.quality as q

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 8)), rng.normal(0.5, 1.0, size=(300, 8))
    probs = rng.dirichlet(np.ones(10), size=300)
    alone = q.scores(real, fake, probs)
    inside, most = [0], [0]
    coverage = q._coverage

    def counted(*args):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # (long enough for the other thread to come in, were it let)
        try:
            return coverage(*args)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(q, "_coverage", counted)
    results = []
    threads = [threading.Thread(target=lambda: results.append(q.scores(real, fake, probs))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and results == [alone] * 3


def test_precision_recall_needs_more_than_k_samples():
    with pytest.raises(ValueError, match="more than k=3"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


def test_shipped_mnist_reference_classifies_test_images():
    from ssgan.data import load_mnist
    from ssgan.reference import load_reference, predict

    mnist = load_mnist()
    net, record = load_reference(mnist)
    assert "shipped" in record["name"] and record["test_accuracy"] >= 0.99
    _, probs = predict(net, mnist.x_test[:200])
    assert (probs.argmax(1) == mnist.y_test[:200]).mean() >= 0.98


def test_reference_network_is_trained_once_then_cached(tmp_path, digits, monkeypatch):
    from ssgan import reference

    net, record = reference.load_reference(digits, tmp_path)
    assert len(list(tmp_path.glob("reference-digits-*.pt"))) == 1 and record["test_accuracy"] > 0.8

    def refuse(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(reference, "train_reference", refuse)
    again, record2 = reference.load_reference(digits, tmp_path)
    assert record2["key"] == record["key"]
    assert all(np.array_equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_eval_samples_prints_scores_and_the_network(tmp_path):
    import json

    from click.testing import CliRunner

    from ssgan.cli import main

    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu",
                                  "--out", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code == 0, r.output
    run = next((tmp_path / "runs").iterdir())
    r = CliRunner().invoke(main, ["eval", str(run), "--samples", "200", "--cache-dir", str(tmp_path / "cache"), "--json"])
    assert r.exit_code == 0, r.output
    q = json.loads(r.stdout)["sample_quality"]
    assert "reference CNN for digits" in q["network"] and q["n"] == 200
    for row in ("generated", "real"):
        assert set(q[row]) == {"fid", "classifier_score", "precision", "recall"}
    assert q["real"]["fid"] < q["generated"]["fid"] and q["real"]["classifier_score"] > q["generated"]["classifier_score"]
    assert q["n_real"] == 200
    # more samples than the 1347 training images: the real row is all of them, and says so (it had said 2000)
    r = CliRunner().invoke(main, ["eval", str(run), "--samples", "2000", "--cache-dir", str(tmp_path / "cache")])
    assert r.exit_code == 0 and "generated (2000)" in r.output and "images (1347)" in r.output, r.output


def test_quality_every_scores_epochs_and_reports_show_them(tmp_path, monkeypatch):
    """fit --quality-every 2 over 3 epochs scores epochs 2 and 3 (the last) into metrics.jsonl,
    with the real images' row and the network's name; the report tabulates and plots them."""
    import json

    from click.testing import CliRunner

    from ssgan.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the digits reference is trained once here
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "3", "--device", "cpu",
                                  "--quality-every", "2", "--quality-samples", "200", "--out", str(tmp_path / "runs"),
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    run = next((tmp_path / "runs").iterdir())
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m.get("fid") is not None for m in metrics] == [False, True, True]
    last = metrics[-1]
    assert "reference CNN for digits" in last["quality_network"] and last["quality_samples"] == 200
    assert last["quality_real"]["fid"] < last["fid"]
    r = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "report" / "report.md").read_text()
    # one run: the scores alone, without a spread of 0 that was never measured
    assert f"| ssgan | {last['fid']:.3f} | {last['classifier_score']:.3f} |" in md and "| real training images |" in md
    assert (tmp_path / "report" / "quality.png").is_file()
    summary = json.loads((tmp_path / "report" / "report.json").read_text())
    assert summary["methods"]["ssgan"]["sample_quality"]["fid"] == last["fid"]
    # a seed scored on more samples than the 1347 training images: its real row is all of them, said so
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "3", "--device", "cpu",
                                  "--seed", "2", "--quality-every", "3", "--quality-samples", "2000",
                                  "--out", str(tmp_path / "more"), "--quiet"])
    assert r.exit_code == 0, r.output
    more = next((tmp_path / "more").iterdir())
    r = CliRunner().invoke(main, ["report", str(more), "--out", str(tmp_path / "report-more")])
    assert r.exit_code == 0, r.output
    assert "The last row is 1347 real training images, all the training set holds (fewer than the samples: a smaller " \
           "set's FID is higher)" in (tmp_path / "report-more" / "report.md").read_text()
    # the two together: FIDs of 200 and of 2000 samples were averaged as if they compared
    r = CliRunner().invoke(main, ["report", str(run), str(more), "--out", str(tmp_path / "both")])
    assert r.exit_code == 0 and r.stderr == (
        f"Warning: the runs of ssgan scored different numbers of samples (200 in {run}; 2000 in {more}), whose FIDs do "
        "not compare: the report leaves their sample quality out (fit them with one --quality-samples)\n"), r.output
    assert json.loads((tmp_path / "both" / "report.json").read_text())["methods"]["ssgan"]["sample_quality"] is None
    assert not (tmp_path / "both" / "quality.png").exists()  # (the one method's curve would have mixed them too)


def test_report_samples_scores_runs_trained_without_quality(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ssgan.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cpu",
                                  "--out", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code == 0, r.output
    run = next((tmp_path / "runs").iterdir())
    before = (run / "metrics.jsonl").read_text()
    r = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "report"), "--samples", "200"])
    assert r.exit_code == 0, r.output
    assert "| real training images |" in (tmp_path / "report" / "report.md").read_text()
    assert (run / "metrics.jsonl").read_text() == before  # the run folder is not changed
    # a run kept without its checkpoint (as committed reports keep them) cannot be scored: one line, no report
    (run / "checkpoint.pt").unlink()
    r = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "report2"), "--samples", "200"])
    assert r.exit_code == 2 and r.output == ("Error: --samples scores each GAN run's last generator from its "
                                             f"checkpoint.pt, which 1 run lacks ({run.name}): make the report "
                                             "without --samples\n"), r.output
    assert not (tmp_path / "report2").exists()
    r = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "report2")])
    assert r.exit_code == 0, r.output


def test_quality_every_needs_images_with_a_test_set(tmp_path):
    import numpy as np
    from click.testing import CliRunner

    from ssgan.cli import main

    np.savez(tmp_path / "v.npz", x=np.random.default_rng(0).random((20, 5)).astype(np.float32),
             y=np.array([0, 1] * 5 + [-1] * 10))
    r = CliRunner().invoke(main, ["fit", "--dataset", f"npz:{tmp_path / 'v.npz'}", "--quality-every", "1",
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--quality-every needs image data" in r.output, r.output
    assert not (tmp_path / "runs").exists()
    # eval --samples of a run on vectors says so before a reference network is looked for (it had
    # said that it was training one, and then that the data were no images)
    np.savez(tmp_path / "t.npz", x=np.random.default_rng(0).random((20, 5)).astype(np.float32),
             y=np.array([0, 1] * 5 + [-1] * 10), x_test=np.zeros((4, 5), np.float32), y_test=np.array([0, 1, 0, 1]))
    r = CliRunner().invoke(main, ["fit", "--dataset", f"npz:{tmp_path / 't.npz'}", "--epochs", "1", "--batch-size", "10",
                                  "--out", str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    run = Path(json.loads(r.stdout)["run"])
    r = CliRunner().invoke(main, ["eval", str(run), "--samples", "10"])
    assert r.exit_code == 2 and r.output == (f"Error: npz:{tmp_path / 't.npz'} is not image data (shape (5,)); "
                                             "sample-quality scores need images: leave out --samples (the "
                                             "classifier's scores need none)\n"), r.output
    # and report --samples, in one line before it says that it scores anything
    r = CliRunner().invoke(main, ["report", str(run), "--samples", "10", "--out", str(tmp_path / "report")])
    assert r.exit_code == 2 and r.output == (
        f"Error: --samples scores generated images, and {run.name} was trained on npz:{tmp_path / 't.npz'}, which is "
        "not image data (shape (5,)): make the report without --samples\n"), r.output
    assert not (tmp_path / "report").exists()
    # eval --split val --samples of images without a test set: nothing to compare the samples with
    y = np.where(np.arange(60) < 20, np.arange(60) % 2, -1)
    np.savez(tmp_path / "i.npz", x=(np.random.default_rng(0).random((60, 8, 8)) * 255).astype(np.uint8), y=y)
    r = CliRunner().invoke(main, ["fit", "--dataset", f"npz:{tmp_path / 'i.npz'}", "--val", "10", "--epochs", "1",
                                  "--batch-size", "10", "--out", str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", json.loads(r.stdout)["run"], "--split", "val", "--samples", "10"])
    assert r.exit_code == 2 and r.output == (f"Error: npz:{tmp_path / 'i.npz'} has no test set to compare samples "
                                             "with: give the npz x_test and y_test, or leave out --samples\n"), r.output


def _tiny_image_run(tmp_path):
    """A one-epoch run on 60 training and 12 test 8x8 grey images (Inception-v3 on the CPU is slow)."""
    from click.testing import CliRunner

    from conftest import write_npz
    from ssgan.cli import main

    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = (rng.random((60, 8, 8)) * 255).astype(np.uint8)
    data = write_npz(tmp_path / "tiny.npz", x=x, y=y, x_test=x[:12], y_test=y[:12])
    r = CliRunner().invoke(main, ["fit", "--dataset", data, "--labels", "10", "--epochs", "1", "--batch-size", "20",
                                  "--device", "cpu", "--out", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code == 0, r.output
    return next((tmp_path / "runs").iterdir())


def test_inception_without_weights_in_the_cache_is_a_one_line_error(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ssgan.cli import main

    run = _tiny_image_run(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-cache"))
    r = CliRunner().invoke(main, ["eval", str(run), "--samples", "10", "--feature-net", "inception"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "Traceback" not in r.output
    assert "Inception-v3 weights are not in the torch cache" in r.output and "--feature-net reference" in r.output


def test_inception_features_from_cached_weights(tmp_path, monkeypatch, digits):
    """With weights in the torch cache (random ones here: none can be downloaded), the
    Inception-v3 feature network gives 2048 pooled features and 1000 class probabilities for
    grey images of any size, and names itself. (The CLI path to it is the test above; FID on
    2048 features costs a 2048x2048 matrix square root, too slow for the suite.)"""
    import torch
    from torchvision.models import inception_v3

    from ssgan.reference import inception_weights_path, load_feature_net, predict

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = inception_weights_path()
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    net, record = load_feature_net(digits, "inception")
    assert record["name"].startswith("torchvision Inception-v3") and str(path) in record["name"]
    feats, probs = predict(net, digits.x_test[:3])
    assert feats.shape == (3, 2048) and probs.shape == (3, 1000) and np.allclose(probs.sum(1), 1.0)
    path.write_bytes(b"not weights")
    with pytest.raises(SSGANError, match="cannot be loaded as Inception-v3 weights"):
        load_feature_net(digits, "inception")


def test_frechet_distances_in_threads_leave_the_warning_filters_as_they_were(monkeypatch):
    """frechet_distance turns SciPy's singular-matrix warning into an error inside
    ``warnings.catch_warnings``, which saves and restores the process's filters; two threads
    take turns there, or the first to leave would restore filters under the second, and the
    second would put back the first's "error" filter for good. The interleaving is offered:
    the first waits up to 1 s inside for the second to arrive."""
    import threading
    import warnings

    from scipy import linalg

    import ssgan.quality

    sqrtm, first_in, second_in, first_out = linalg.sqrtm, threading.Event(), threading.Event(), threading.Event()

    def slow_sqrtm(a):
        if not first_in.is_set():
            first_in.set()
            second_in.wait(1)
        else:
            second_in.set()
            first_out.wait(5)
        return sqrtm(a)

    monkeypatch.setattr(ssgan.quality.linalg, "sqrtm", slow_sqrtm)
    before = list(warnings.filters)
    x = np.random.default_rng(0).normal(size=(50, 3))

    def first():
        frechet_distance(x, x)
        first_out.set()

    t = threading.Thread(target=first)
    t.start()
    assert first_in.wait(5)
    frechet_distance(x, x + 1.0)
    t.join()
    assert warnings.filters == before


@cuda
def test_quality_every_scores_on_cuda(tmp_path, monkeypatch):
    """fit --quality-every on a GPU puts the reference network's features there too: the
    scores come out, with the real row better than the one-epoch generator's."""
    import json

    from click.testing import CliRunner

    from ssgan.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    r = CliRunner().invoke(main, ["fit", "--dataset", "digits", "--labels", "50", "--epochs", "1", "--device", "cuda",
                                  "--quality-every", "1", "--quality-samples", "200", "--out", str(tmp_path / "runs"),
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    run = next((tmp_path / "runs").iterdir())
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert "reference CNN for digits" in last["quality_network"] and last["quality_real"]["fid"] < last["fid"]


def test_eval_samples_of_a_run_whose_data_moved_reads_them_at_data(tmp_path, digits):
    """eval --samples of a run whose npz moved told to give --data npz:NEWPATH, then refused it
    too; the run's own data at --data are scored against (the same scores as at their old
    place), and other data there are one line while the run's own are missing."""
    import json
    import shutil

    from click.testing import CliRunner

    from conftest import write_npz
    from ssgan.cli import main

    pixels = np.round(digits.x_train[:, 0] * 255).astype(np.uint8)
    y = np.where(np.arange(len(pixels)) < 100, digits.y_train, -1)
    data = write_npz(tmp_path / "own.npz", x=pixels, y=y, x_test=np.round(digits.x_test[:, 0] * 255).astype(np.uint8),
                     y_test=digits.y_test)
    r = CliRunner().invoke(main, ["fit", "--dataset", data, "--epochs", "1", "--device", "cpu",
                                  "--out", str(tmp_path / "runs"), "--quiet", "--json"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    scoring = ["--samples", "100", "--cache-dir", str(tmp_path / "cache"), "--json"]
    r = CliRunner().invoke(main, ["eval", run, *scoring])
    assert r.exit_code == 0, r.output
    before = json.loads(r.stdout)["sample_quality"]
    shutil.move(tmp_path / "own.npz", tmp_path / "moved.npz")
    r = CliRunner().invoke(main, ["eval", run, *scoring])
    assert r.exit_code == 2 and "give --data npz:NEWPATH" in r.output, r.output
    r = CliRunner().invoke(main, ["eval", run, *scoring, "--data", f"npz:{tmp_path / 'moved.npz'}"])
    assert r.exit_code == 0, r.output
    after = json.loads(r.stdout)["sample_quality"]
    assert after["reference"].startswith(f"npz:{tmp_path / 'moved.npz'} test set")
    assert {k: after[k] for k in ("generated", "real", "n", "n_real")} == {k: before[k] for k in ("generated", "real", "n", "n_real")}
    # the reference network is cached by the images' hash, not the path: it was not trained again for the moved file
    assert len(list((tmp_path / "cache").glob("reference-*.pt"))) == 1
    assert "(cached in " in after["network"] and after["network"].split("(cached in ")[1] == before["network"].split("(cached in ")[1]
    other = write_npz(tmp_path / "other.npz", x=pixels[::-1], y=y, x_test=pixels[:50], y_test=digits.y_train[:50])
    r = CliRunner().invoke(main, ["eval", run, *scoring, "--data", other])
    assert r.exit_code == 2 and f"Error: {other} is not the data that {run} trained on" in r.output, r.output

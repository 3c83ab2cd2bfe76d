import json

import numpy as np
import pytest

from ssgan.data import load_dataset, load_mnist
from ssgan.errors import SSGANError
from ssgan.splits import load_split, make_split, save_split


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_split_is_balanced_unique_and_sorted(mnist, n):
    s = make_split(mnist, n, seed=1)
    assert len(s.indices) == n and len(np.unique(s.indices)) == n
    assert np.all(np.diff(s.indices) > 0)
    assert np.bincount(mnist.y_train[s.indices], minlength=10).tolist() == [n // 10] * 10
    assert s.name == f"mnist.seed1@{n}"


def test_split_deterministic_per_seed_and_different_across_seeds(mnist):
    a, b, c = make_split(mnist, 100, 1), make_split(mnist, 100, 1), make_split(mnist, 100, 2)
    assert np.array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)


def test_split_is_pinned_across_machines(mnist):
    """PCG64 is the same everywhere: the first indices of mnist.seed1@100 never change."""
    assert make_split(mnist, 100, 1).indices[:5].tolist() == [465, 1188, 1654, 1811, 2191]


@pytest.mark.parametrize("n, message", [
    (0, "must be a positive number"),
    (-10, "must be a positive number"),
    (105, "not a multiple of the 10 classes of mnist: use a multiple such as 100 or 110"),
    (7, "use a multiple such as 10"),
    (60000, "asks for 6000 labeled examples of class 5, but mnist has only 5421"),
])
def test_split_bad_sizes(mnist, n, message):
    with pytest.raises(SSGANError, match=message):
        make_split(mnist, n, 1)


def test_save_load_roundtrip(tmp_path, mnist):
    s = make_split(mnist, 100, 4)
    save_split(s, tmp_path / "s.json")
    t = load_split(tmp_path / "s.json", mnist)
    assert np.array_equal(s.indices, t.indices) and t.seed == 4 and t.dataset == "mnist"
    assert json.loads((tmp_path / "s.json").read_text())["name"] == "mnist.seed4@100"


def test_load_split_errors(tmp_path, mnist, digits):
    s = make_split(digits, 50, 1)
    save_split(s, tmp_path / "d.json")
    with pytest.raises(SSGANError, match="is for dataset 'digits', not 'mnist'"):
        load_split(tmp_path / "d.json", mnist)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SSGANError, match="damaged or not a split"):
        load_split(tmp_path / "bad.json")
    with pytest.raises(SSGANError, match="does not exist"):
        load_split(tmp_path / "missing.json")


def test_npz_given_labels_are_the_labeled_set(tiny_npz):
    d = load_dataset(tiny_npz)
    s = make_split(d, None, 1)
    assert s.labels == 20 and np.all(d.y_train[s.indices] >= 0)
    assert np.array_equal(s.indices, np.flatnonzero(d.y_train >= 0))
    # an explicit --labels draws a balanced subset of the given labels
    sub = make_split(d, 6, 1)
    assert np.bincount(d.y_train[sub.indices]).tolist() == [2, 2, 2]


def test_npz_without_unlabeled_rows_needs_labels(tmp_path):
    from conftest import write_npz

    d = load_dataset(write_npz(tmp_path / "full.npz", x=np.zeros((6, 2), np.float32), y=np.array([0, 1] * 3)))
    with pytest.raises(SSGANError, match="has no unlabeled rows .* or pass --labels N"):
        make_split(d, None, 1)
    assert make_split(d, 2, 1).labels == 2

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ssgan.data import REGISTRY, check_name, load_dataset
from ssgan.errors import SSGANError

from conftest import ROOT, write_npz


def test_bundled_mnist_is_the_real_thing():
    d = load_dataset("mnist")
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert d.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert d.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(d.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(float(d.x_train.mean()) - 0.1307) < 1e-3
    assert abs(float(d.x_train.std()) - 0.3081) < 1e-3
    assert d.n_classes == 10 and d.shape == (1, 28, 28) and d.is_image


def test_digits(digits):
    assert digits.shape == (1, 8, 8)
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert digits.x_train.max() == pytest.approx(1.0) and digits.x_train.min() == 0.0
    assert set(np.unique(digits.y_train)) == set(range(10))


@pytest.mark.parametrize("shape, expected", [((50, 7, 5), (1, 7, 5)), ((50, 3, 4, 4), (3, 4, 4)), ((50, 12), (12,))])
def test_npz_shapes(tmp_path, shape, expected):
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(5), 10)
    y[25:] = -1
    name = write_npz(tmp_path / "d.npz", x=rng.random(shape).astype(np.float32), y=y)
    d = load_dataset(name)
    assert d.shape == expected and d.n_classes == 5 and d.x_test is None
    assert (d.y_train == -1).sum() == 25


def test_npz_in_the_train_and_test_layout_of_keras(tmp_path):
    """x_train and y_train (Keras' mnist.npz, and many a numpy.savez) are the training arrays of a
    file without x and y: the same data as under x and y; they had been refused ('has no x or y
    array'). A file with x and y reads those, whatever else it holds."""
    from click.testing import CliRunner

    from ssgan.cli import main

    rng = np.random.default_rng(0)
    x, y = (rng.random((40, 4, 4)) * 255).astype(np.uint8), np.tile(np.arange(4), 10)
    arrays = dict(x_test=x[:8], y_test=y[:8])
    keras = load_dataset(write_npz(tmp_path / "k.npz", x_train=x, y_train=y, **arrays))
    plain = load_dataset(write_npz(tmp_path / "p.npz", x=x, y=y, **arrays))
    for a, b in ((keras.x_train, plain.x_train), (keras.y_train, plain.y_train), (keras.x_test, plain.x_test)):
        assert np.array_equal(a, b)
    both = load_dataset(write_npz(tmp_path / "b.npz", x=x[:20], y=y[:20], x_train=x, y_train=y))
    assert len(both.x_train) == 20
    with pytest.raises(SSGANError, match=r"k2.npz: x_train has 40 rows but y_train has 39"):
        load_dataset(write_npz(tmp_path / "k2.npz", x_train=x, y_train=y[:39]))
    r = CliRunner().invoke(main, ["fit", "--dataset", f"npz:{tmp_path / 'k.npz'}", "--labels", "8", "--epochs", "1",
                                  "--batch-size", "8", "--out", str(tmp_path / "runs"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", json.loads(r.stdout)["run"], "--data", f"npz:{tmp_path / 'k.npz'}"])
    assert r.exit_code == 0 and "(x_test)" in r.output, r.output


def test_npz_uint8_is_scaled(tmp_path):
    x = np.full((10, 4, 4), 255, np.uint8)
    d = load_dataset(write_npz(tmp_path / "d.npz", x=x, y=np.array([0, 1] * 5)))
    assert d.x_train.max() == 1.0


def test_npz_booleans_are_features_of_0_and_1(tmp_path):
    """Binary features saved as booleans (x > 0, a table's yes/no columns) had been refused with
    a request to save them as floats; they are those floats."""
    from ssgan.data import array_rows

    x = np.arange(40).reshape(10, 4) % 3 == 0
    d = load_dataset(write_npz(tmp_path / "d.npz", x=x, y=np.array([0, 1] * 5), x_test=x[:2], y_test=np.array([0, 1])))
    assert np.array_equal(d.x_train, x.astype(np.float32)) and np.array_equal(d.x_test, x[:2].astype(np.float32))
    assert d.value_range == (0.0, 1.0) and d.x_train.dtype == np.float32
    assert np.array_equal(array_rows(x)[0], x.astype(np.float32)) and not array_rows(x)[1]


def test_npz_eight_bit_test_pixels_beside_training_floats_in_their_units(tmp_path):
    """Floats within [0, 1] are pixels in ssgan's units, so 8-bit test pixels beside them are the
    same units, as eval takes 8-bit pixels for such a run."""
    x = np.linspace(0, 1, 6 * 16, dtype=np.float32).reshape(6, 4, 4)
    d = load_dataset(write_npz(tmp_path / "d.npz", x=x, y=np.array([0, 1] * 3), x_test=np.full((2, 4, 4), 255, np.uint8),
                               y_test=np.array([0, 1])))
    assert d.x_test.max() == 1.0 and d.x_train.max() == 1.0


def _bad(tmp_path, **arrays):
    return write_npz(tmp_path / "bad.npz", **arrays)


X = np.zeros((6, 4, 4), np.float32)
Y = np.array([0, 1, 0, 1, -1, -1])


@pytest.mark.parametrize("arrays, message", [
    (dict(images=X, y=Y), "has no x array"),
    (dict(x=X), "has no y array"),
    (dict(x=np.zeros((6,), np.float32), y=Y), "expected \\(N, D\\)"),
    # complex values: what to save instead
    (dict(x=X + 1j, y=Y), "x has dtype complex64; expected real numbers \\(8-bit pixels, booleans, integers or "
                          "floats\\): save numpy.asarray\\(x, dtype=float\\)"),
    (dict(x=X, y=Y[:5]), "x has 6 rows but y has 5"),
    # a blank class name had been said to be named 'more than once' (with nothing between the spaces), or passed
    (dict(x=X, y=Y, classes=np.array(["cat", " "])), "classes has no name for class 1 \\(an empty or blank string\\); "
                                                     "give each class a name"),
    (dict(x=np.where(np.arange(96).reshape(6, 4, 4) == 3, np.nan, 0).astype(np.float32), y=Y), "NaN"),
    # finite float64 values past float32's range: they had been said to be NaN or infinite, after numpy's warning
    (dict(x=np.where(np.arange(96).reshape(6, 4, 4) == 3, -5e300, 0.5), y=Y),
     "x has values of magnitude up to 5e\\+300, past float32's largest \\(3.4e\\+38\\), which ssgan computes in: "
     "divide them by a power of ten first"),
    (dict(x=X, y=np.array([0, 1, 0, 1, -1, -2])), "label -2"),
    (dict(x=X, y=np.full(6, -1)), "every row of y is -1"),
    (dict(x=X, y=np.array([0, 2, 0, 2, -1, -1])), "classes \\[1\\] have no labeled"),
    (dict(x=X, y=np.array([0, 0, 0, 0, -1, -1])), "only one class"),
    (dict(x=X, y=Y, x_test=X), "both x_test and y_test"),
    (dict(x=X, y=Y, x_test=np.zeros((2, 5, 5), np.float32), y_test=np.array([0, 1])), "x_test examples have shape"),
    (dict(x=X, y=Y, x_test=X[:2], y_test=np.array([0, -1])), "y_test must be fully labeled \\(found -1\\): leave out the "
     "test rows without a label, or put them in x and y as unlabeled rows \\(-1\\)"),
    # 8-bit test pixels (read as [0, 1]) beside training floats in other units: x's scaler would
    # have taken them as values near x's minimum, and the test accuracy would have been chance
    (dict(x=X + 255, y=Y, x_test=np.zeros((2, 4, 4), np.uint8), y_test=np.array([0, 1])),
     "x_test holds 8-bit pixels, which ssgan reads as \\[0, 1\\], but x holds floats in \\[255, 255\\]: save both"),
    (dict(x=X, y=np.array([0.5, 1, 0, 1, -1, -1])), "integer class labels"),
    # class names as labels, and -1 saved as an unsigned type's largest value: what to save instead
    (dict(x=X, y=Y.astype(str)), "y holds strings; expected integer class labels 0..K-1 \\(-1 for unlabeled\\): save "
                                 "the class names in an array named classes, and y as their indices"),
    (dict(x=X, y=Y.astype(np.uint8)), "y has dtype uint8, which cannot hold -1, and its 255s look like -1 \\(unlabeled\\) "
                                      "wrapped around: save signed labels, numpy.where\\(y == 255, -1, y\\).astype\\(int\\)"),
    (dict(x=X[:0], y=Y[:0]), "x and y have no rows"),
    (dict(x=X, y=Y, x_test=X[:0], y_test=Y[:0]), "x_test and y_test have no rows"),
    (dict(x=X, y=Y, x_test=X[:2], y_test=np.array([1, 7])), "y_test has classes \\[7\\] that no labeled training example has"),
    # a long list of missing classes is cut short, so that the error stays one readable line
    (dict(x=X, y=np.array([0, 5000, 0, 5000, -1, -1])), "classes \\[1, 2, 3, 4, 5, 6, 7, 8\\] and 4,991 more have no labeled"),
])
def test_npz_bad_input(tmp_path, arrays, message):
    with pytest.raises(SSGANError, match=message):
        load_dataset(_bad(tmp_path, **arrays))


def test_npz_missing_and_damaged(tmp_path):
    with pytest.raises(SSGANError, match="no such file"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    with pytest.raises(SSGANError, match="not a readable .npz"):
        load_dataset(f"npz:{tmp_path / 'broken.npz'}")
    # mixed types become an object array, which numpy will not load without unpickling: said so,
    # where the line told a file saved with numpy.savez to be saved with numpy.savez
    np.savez(tmp_path / "objects.npz", x=np.array([[1, "a"]] * 4, dtype=object), y=np.array([0, 1, -1, -1]))
    with pytest.raises(SSGANError, match=r"holds arrays of Python objects, which are not loaded \(they would be "
                                         r"unpickled\): save numeric arrays"):
        load_dataset(f"npz:{tmp_path / 'objects.npz'}")


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_arrays_read_a_part_at_a_time_convert_as_whole_arrays(tmp_path, monkeypatch, save):
    """The example arrays of an npz are read and converted to float32 a few rows at a time (the
    memory of a float64 file's arrays is not doubled); the numbers are those of converting each
    array whole: 8-bit pixels divided by 255, other numbers cast, in any byte order, stored in
    C or Fortran order, compressed or not. NaN in a later part is still found, and a file cut
    short is one line."""
    import ssgan.data

    monkeypatch.setattr(ssgan.data, "READ_VALUES", 40)  # parts of a row or a few
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 9 + [-1] * 7)
    cases = {
        "grey uint8": rng.integers(0, 256, (25, 5, 6), dtype=np.uint8),
        "colour uint8": rng.integers(0, 256, (25, 3, 4, 4), dtype=np.uint8),
        "float64": rng.normal(size=(25, 13)) * 1e3,
        "big-endian float64": (rng.normal(size=(25, 7)) * 1e3).astype(">f8"),
        "int32": rng.integers(-5000, 5000, (25, 9)).astype(np.int32),
        "Fortran float64": np.asfortranarray(rng.normal(size=(25, 11))),
        "one row per part": rng.normal(size=(25, 90)),
    }
    reads = []
    read_exactly = ssgan.data._read_exactly
    monkeypatch.setattr(ssgan.data, "_read_exactly", lambda member, size: reads.append(size) or read_exactly(member, size))
    for name, x in cases.items():
        reads.clear()
        path = tmp_path / f"{name}-{save.__name__}.npz"
        save(path, x=x, y=y, x_test=x[:6], y_test=y[:6] % 2)
        data = load_dataset(f"npz:{path}")
        expected = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
        expected = expected[:, None] if x.ndim == 3 else expected
        assert data.x_train.dtype == np.float32 and np.array_equal(data.x_train, expected), name
        assert np.array_equal(data.x_test, expected[:6]) and data.real_valued == (x.dtype != np.uint8), name
        if name == "float64":  # x in parts of 3 rows of 13 values (40 at most), then x_test's 6 rows
            assert reads == [3 * 13 * 8] * 8 + [13 * 8] + [3 * 13 * 8] * 2
        rows, eight_bit = ssgan.data.load_npz_rows(f"npz:{path}", "x_test")
        assert np.array_equal(rows, expected[:6]) and eight_bit == (x.dtype == np.uint8), name
    x = rng.normal(size=(25, 13))
    x[21, 4] = np.nan  # in the last part
    save(tmp_path / "nan.npz", x=x, y=y)
    with pytest.raises(SSGANError, match="x contains NaN or infinite values"):
        load_dataset(f"npz:{tmp_path / 'nan.npz'}")
    # an x whose header promises more rows than the file holds (a file written cut short)
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (25, 13)})
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as z:
        z.writestr("x.npy", header.getvalue() + rng.normal(size=(20, 13)).tobytes())
        with z.open("y.npy", "w") as member:
            np.lib.format.write_array(member, y)
    with pytest.raises(SSGANError, match=r"short.npz is not a readable .npz file \(EOFError\): save it with numpy.savez"):
        load_dataset(f"npz:{tmp_path / 'short.npz'}")
    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as z:  # an x that is bytes, not an array numpy wrote
        z.writestr("x", b"1,2,3")
        with z.open("y.npy", "w") as member:
            np.lib.format.write_array(member, y)
    with pytest.raises(SSGANError, match=r"raw.npz: x is not a numpy array in the file: save it with numpy.savez"):
        load_dataset(f"npz:{tmp_path / 'raw.npz'}")


def test_unknown_dataset():
    with pytest.raises(SSGANError, match="unknown dataset 'imagenet'"):
        check_name("imagenet")


@pytest.mark.parametrize("name", ["fashion-mnist", "kmnist", "svhn", "cifar10"])
def test_torchvision_offline_errors_name_the_files(tmp_path, name):
    with pytest.raises(SSGANError, match="needs --data-root"):
        load_dataset(name)
    with pytest.raises(SSGANError, match=f"{name} not found in .*expected"):
        load_dataset(name, data_root=str(tmp_path))


def test_a_download_that_fails_is_one_line(tmp_path, monkeypatch):
    """torchvision says a failed download on three lines (file, address, reason): the error had
    printed them as three, where every error is one line."""
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://example.org/kmnist/, "
                           "got:\n<urlopen error [Errno -2] Name or service not known>\n")

    monkeypatch.setattr(tvd, "KMNIST", offline)
    with pytest.raises(SSGANError) as e:
        load_dataset("kmnist", data_root=str(tmp_path), download=True)
    assert str(e.value) == (f"could not load kmnist from {tmp_path}: Error downloading train-images-idx3-ubyte.gz: Tried "
                            "http://example.org/kmnist/, got: <urlopen error [Errno -2] Name or service not known> (are "
                            "you online for --download?)")


def _fashion_layout(tmp_path) -> Path:
    """A tiny FashionMNIST in torchvision's layout (benchmarks/fashion_mnist_layout.py); its root."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 30), ("test", 10)):
        arrays[f"x_{part}"] = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        arrays[f"y_{part}"] = (np.arange(n) % 10).astype(np.uint8)
    np.savez(tmp_path / "tiny.npz", **arrays)
    script = ROOT / "benchmarks" / "fashion_mnist_layout.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "my root"), "--npz", str(tmp_path / "tiny.npz")],
                   check=True, capture_output=True)
    return tmp_path / "my root"


def test_torchvision_loader_reads_torchvision_layout(tmp_path):
    """Write a tiny FashionMNIST into torchvision's raw layout with the README's command
    (benchmarks/fashion_mnist_layout.py) and load it through the registry."""
    d = load_dataset("fashion-mnist", data_root=str(_fashion_layout(tmp_path)))
    assert d.x_train.shape == (30, 1, 28, 28) and d.x_test.shape == (10, 1, 28, 28)
    assert d.y_train[:3].tolist() == [0, 1, 2] and d.x_train.max() <= 1.0


def test_a_data_root_one_folder_off_the_layout_is_told_the_right_one(tmp_path, monkeypatch):
    """--data-root at a folder of torchvision's layout (DIR/FashionMNIST/raw for DIR), or above
    the folder that holds it, is told which folder to give, relative as it was given."""
    from test_arch import _write_cifar10

    monkeypatch.chdir(tmp_path)
    _fashion_layout(tmp_path)  # under "my root"
    expected = "fashion-mnist not found in {}: expected FashionMNIST/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte there; "
    for given, said in (("my root/FashionMNIST/raw", "my root/FashionMNIST/raw is the layout's FashionMNIST/raw"),
                        ("my root/FashionMNIST/", "my root/FashionMNIST is the layout's FashionMNIST"),
                        ("my root/FashionMNIST/raw/../raw", "my root/FashionMNIST/raw is the layout's FashionMNIST/raw"),
                        (".", "my root/FashionMNIST/raw is there")):
        with pytest.raises(SSGANError) as e:
            load_dataset("fashion-mnist", data_root=given)
        assert str(e.value) == expected.format(Path(given)) + f"{said}: give --data-root my root", str(e.value)
    assert load_dataset("fashion-mnist", data_root="my root").x_train.shape == (30, 1, 28, 28)
    _write_cifar10(tmp_path / "c", np.random.default_rng(0))
    with pytest.raises(SSGANError, match=r"; c/cifar-10-batches-py is the layout's cifar-10-batches-py: give --data-root c$"):
        load_dataset("cifar10", data_root="c/cifar-10-batches-py")


def test_a_run_on_a_torchvision_dataset_resumes_with_its_data_root_moved(tmp_path):
    """fit --resume RUN --data-root NEW: the run's data root moved (the data's SHA-256 checked)."""
    import shutil

    from click.testing import CliRunner

    from ssgan.cli import main
    from ssgan.runs import read_config

    root = _fashion_layout(tmp_path)
    r = CliRunner().invoke(main, ["fit", "--dataset", "fashion-mnist", "--data-root", str(root), "--labels", "10",
                                  "--epochs", "1", "--batch-size", "10", "--out", str(tmp_path / "runs"), "--json",
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    shutil.move(root, tmp_path / "new root")
    r = CliRunner().invoke(main, ["fit", "--resume", run, "--epochs", "2", "--quiet"])
    assert r.exit_code == 2 and r.output == (f"Error: {run} was trained on fashion-mnist under --data-root {root}, "
                                             "which is not there now: put it back; where it moved, give --data-root "
                                             "NEWDIR with --resume\n"), r.output
    r = CliRunner().invoke(main, ["fit", "--resume", run, "--epochs", "2", "--data-root", str(tmp_path / "new root"),
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    assert read_config(Path(run))["data_root"] == str(tmp_path / "new root")


def test_archives_copied_packed_are_named_with_how_to_unpack_them(tmp_path, monkeypatch):
    """Archives of torchvision's downloads, copied to a machine without the network and not
    unpacked, are named in the not-found line with the command that unpacks them (which works
    as printed, spaces in the path and all); --download unpacks them offline where their MD5
    is torchvision's (here the tiny files' own, set in its place)."""
    import gzip
    import hashlib
    import shutil
    import tarfile

    import torchvision.datasets as tvd
    import torchvision.datasets.cifar

    from test_arch import _write_cifar10

    root = _fashion_layout(tmp_path)
    raw = root / "FashionMNIST" / "raw"
    md5 = {}
    for f in sorted(raw.iterdir()):
        with open(f, "rb") as src, gzip.open(f"{f}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        md5[f"{f.name}.gz"] = hashlib.md5(Path(f"{f}.gz").read_bytes()).hexdigest()
        f.unlink()
    with pytest.raises(SSGANError) as e:
        load_dataset("fashion-mnist", data_root=str(root))
    message = str(e.value)
    assert f"; 4 archives such as {raw / 't10k-images-idx3-ubyte.gz'} are there, packed: unpack them (gunzip -k " \
        f"'{root}'/FashionMNIST/raw/*-ubyte.gz), or add --download" in message, message
    monkeypatch.setattr(tvd.FashionMNIST, "resources", [(name, md5[name]) for name, _ in tvd.FashionMNIST.resources])
    monkeypatch.setattr(tvd.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])  # (offline: a download would fail)
    assert load_dataset("fashion-mnist", data_root=str(root), download=True).x_train.shape == (30, 1, 28, 28)
    for f in raw.glob("*-ubyte"):
        f.unlink()
    command = message.split("unpack them (")[1].split("), or")[0]
    subprocess.run(command, shell=True, check=True)
    assert load_dataset("fashion-mnist", data_root=str(root)).x_train.shape == (30, 1, 28, 28)

    # CIFAR-10's one archive
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    root = tmp_path / "cifar root"
    _write_cifar10(root, np.random.default_rng(0))
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    shutil.rmtree(root / "cifar-10-batches-py")
    with pytest.raises(SSGANError) as e:
        load_dataset("cifar10", data_root=str(root))
    message = str(e.value)
    assert message.endswith(f"; {root / 'cifar-10-python.tar.gz'} is there, packed: unpack it (tar -xzf "
                            f"'{root}'/cifar-10-python.tar.gz -C '{root}'), or add --download, which unpacks "
                            "torchvision's own archives without the network once their MD5 checks"), message
    subprocess.run(message.split("unpack it (")[1].split("), or")[0], shell=True, check=True)
    assert load_dataset("cifar10", data_root=str(root)).x_train.shape == (40, 3, 32, 32)
    shutil.rmtree(root / "cifar-10-batches-py")
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", hashlib.md5((root / "cifar-10-python.tar.gz").read_bytes()).hexdigest())
    monkeypatch.setattr(tvd.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    assert load_dataset("cifar10", data_root=str(root), download=True).x_train.shape == (40, 3, 32, 32)
    # without archives, the line is as it was
    (tmp_path / "empty").mkdir()
    with pytest.raises(SSGANError, match=r"there \(add --download to fetch it when online\)$"):
        load_dataset("cifar10", data_root=str(tmp_path / "empty"))


def test_registry_lists_all_issue_datasets():
    assert {"mnist", "digits", "fashion-mnist", "kmnist", "svhn", "cifar10"} <= set(REGISTRY)

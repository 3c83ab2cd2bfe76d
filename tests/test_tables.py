"""`ssgan convert`: a CSV table of the user's own into the .npz that --dataset npz:PATH reads."""

import json
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

from ssgan.cli import main


def write(path, text):
    path.write_text(text)
    return str(path)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


TABLE = """height,weight,species
1.5,20,cat
2.5,40,dog
1.0,18,
3.0,45,NaN
1.6,21,-1
2.8,41,dog
1.4,19,cat
"""


def test_class_names_with_a_comma_are_quoted_in_the_line_that_lists_them(tmp_path):
    """"2 classes (cat, big, dog)" read as four names; a quoted CSV cell may hold a comma."""
    table = write(tmp_path / "t.csv", 'a,label\n1,"cat, big"\n2,dog\n3,"cat, big"\n4,dog\n')
    r = invoke("convert", table, "--out", tmp_path / "t.npz")
    assert r.exit_code == 0 and "4 labeled and 0 unlabeled, 2 classes ('cat, big', dog); train" in r.output, r.output
    with np.load(tmp_path / "t.npz") as d:
        assert d["classes"].tolist() == ["cat, big", "dog"]


def test_a_table_with_named_labels_and_empty_cells_becomes_an_npz(tmp_path):
    train = write(tmp_path / "t.csv", TABLE)
    test = write(tmp_path / "test.csv", "species,weight,height\ndog,39,2.4\ncat,17,1.2\n")  # (its columns in another order)
    r = invoke("convert", train, "--label", "species", "--test", test, "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    assert r.output == (f"wrote {tmp_path / 't.npz'}: 7 rows of 2 features, 4 labeled and 3 unlabeled, 2 classes (cat, "
                        f"dog); 2 test rows; train on it with ssgan fit --dataset npz:{tmp_path / 't.npz'}\n")
    with np.load(tmp_path / "t.npz") as d:
        assert sorted(d.files) == ["classes", "features", "x", "x_test", "y", "y_test"]
        assert d["x"].tolist() == [[1.5, 20], [2.5, 40], [1.0, 18], [3.0, 45], [1.6, 21], [2.8, 41], [1.4, 19]]
        assert d["y"].tolist() == [0, 1, -1, -1, -1, 1, 0] and d["classes"].tolist() == ["cat", "dog"]
        assert d["x_test"].tolist() == [[2.4, 39], [1.2, 17]] and d["y_test"].tolist() == [1, 0]


def test_the_npz_of_a_table_trains_and_its_new_rows_are_classified_by_name(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    x = rng.normal(size=(120, 3)) + 4.0 * y[:, None]
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{['no', 'yes'][k] if i < 20 else ''}"
                               for i, (r, k) in enumerate(zip(x, y))]
    train = write(tmp_path / "t.csv", "\n".join(lines) + "\n")
    new = write(tmp_path / "new.csv", "c,b,a\n" + "\n".join(f"{r[2]},{r[1]},{r[0]}" for r in x[:10]) + "\n")
    assert invoke("convert", train, "--out", tmp_path / "t.npz").exit_code == 0
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--out", tmp_path / "new.npz")
    assert r.exit_code == 0 and "3 features, no labels" in r.output, r.output
    with np.load(tmp_path / "new.npz") as d:  # (columns found by name, in the training table's order: a, b, c)
        assert sorted(d.files) == ["features", "x"] and np.array_equal(d["x"], x[:10])
        assert d["features"].tolist() == ["a", "b", "c"]
    r = invoke("fit", "--dataset", f"npz:{tmp_path / 't.npz'}", "--val", 10, "--epochs", 2, "--batch-size", 20,
               "--out", tmp_path / "runs", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    r = invoke("predict", run, "--data", f"npz:{tmp_path / 'new.npz'}", "--out", tmp_path / "p.csv")
    assert r.exit_code == 0, r.output
    assert "predicted classes 0 (no): " in r.output and (tmp_path / "p.csv").read_text().startswith("row,pred,class,")
    # the same rows converted without --like, in their table's order (c, b, a): one line, where they had been
    # classified as other features in silence
    assert invoke("convert", new, "--no-label", "--out", tmp_path / "unordered.npz").exit_code == 0
    for command in (["predict", run, "--out", tmp_path / "q.csv"], ["eval", run]):
        r = invoke(*command, "--data", f"npz:{tmp_path / 'unordered.npz'}")
        assert r.exit_code == 2 and r.output == (
            f"Error: {tmp_path / 'unordered.npz'} holds columns in another order than {run} trained on (c, b, a, "
            f"against a, b, c): convert its table with --like {tmp_path / 't.npz'}\n"), r.output
    # the table itself as --data (as npz:PATH too): one line, the convert command that makes it an .npz of the
    # run's columns, and, since new.npz is there, that it may be that already; predict's works as printed
    for command, no_label in ((["predict", run, "--out", tmp_path / "q.csv"], " --no-label"), (["eval", run], "")):
        for data in (new, f"npz:{new}"):
            r = invoke(*command, "--data", data)
            assert r.exit_code == 2 and r.output == (
                f"Error: {new} is a table, not an .npz: if {tmp_path / 'new.npz'} beside it is what `ssgan convert` made "
                f"of it, give npz:{tmp_path / 'new.npz'}; else `ssgan convert {new}{no_label} --like {tmp_path / 't.npz'} "
                f"--out {tmp_path / 'new.npz'}` makes it anew\n"), r.output
    np.save(tmp_path / "new.npy", x[:10])  # (one array: np.load gives no file of named arrays, which had been a traceback)
    for command in (["predict", run, "--out", tmp_path / "q.csv"], ["eval", run]):
        r = invoke(*command, "--data", f"npz:{tmp_path / 'new.npy'}")
        assert r.exit_code == 2 and r.output.startswith(f"Error: {tmp_path / 'new.npy'} is one array (.npy), not an "
                                                        ".npz of named arrays (x"), r.output
    (tmp_path / "new.npz").unlink()
    r = invoke("predict", run, "--data", new, "--out", tmp_path / "q.csv")
    assert invoke(*shlex.split(r.output.split("`")[1])[1:]).exit_code == 0
    r = invoke("predict", run, "--data", r.output.rstrip("\n").rsplit(" ", 1)[1], "--out", tmp_path / "q.csv")
    assert r.exit_code == 0 and (tmp_path / "q.csv").read_text() == (tmp_path / "p.csv").read_text()


def test_a_table_without_a_header_row_names_its_columns_by_place(tmp_path):
    """As UCI's tables come (iris.data): --no-header reads the first row as data, the columns
    named 1, 2, ..., the labels by their place; test rows and new rows converted --like the
    .npz are read without one too, and the .npz trains."""
    rows = [f"{5 + i % 7 * 0.1:.1f},{3 + i % 5 * 0.2:.1f},{['setosa', 'virginica'][i % 2] if i < 8 else ''}"
            for i in range(40)]
    train = write(tmp_path / "t.data", "\n".join(rows) + "\n")
    test = write(tmp_path / "s.data", "5.0,3.1,setosa\n5.5,3.3,virginica\n")
    r = invoke("convert", train, "--no-header", "--label", 3, "--test", test, "--out", tmp_path / "t.npz")
    assert r.exit_code == 0 and "40 rows of 2 features, 8 labeled and 32 unlabeled, 2 classes (setosa, virginica); " \
                                "2 test rows" in r.output, r.output
    with np.load(tmp_path / "t.npz") as d:
        assert d["features"].tolist() == ["1", "2"] and d["x"][0].tolist() == [5.0, 3.0]  # (the first row is data)
        assert d["y"][:3].tolist() == [0, 1, 0] and d["x_test"].tolist() == [[5.0, 3.1], [5.5, 3.3]]
    new = write(tmp_path / "new.data", "5.2,3.4\n")
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--out", tmp_path / "new.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "new.npz") as d:
        assert d["x"].tolist() == [[5.2, 3.4]] and bool(d["headerless"])
    r = invoke("fit", "--dataset", f"npz:{tmp_path / 't.npz'}", "--epochs", 1, "--batch-size", 8, "--out",
               tmp_path / "runs", "--quiet")
    assert r.exit_code == 0, r.output
    r = invoke("fit", "--dataset", train)  # (the table itself: a .data file is one, as a .csv is)
    assert r.exit_code == 2 and r.output.startswith(f"Error: {train} is a table, not an .npz: if {tmp_path / 't.npz'} "
                                                    f"beside it is what `ssgan convert` made of it, give "
                                                    f"npz:{tmp_path / 't.npz'}; else `ssgan convert {train} --out "
                                                    f"{tmp_path / 't.npz'}` makes it anew"), r.output


def test_a_table_whose_cells_are_separated_by_spaces(tmp_path):
    """numpy.savetxt's tables (and many UCI ones): cells between runs of spaces, lines that start
    with spaces, in a file with no comma, semicolon or tab."""
    x = np.array([[0.5, 12.25, 0], [1.0, 3.5, 1], [2.0, 4.0, -1], [1.5, 2.0, 1]])
    np.savetxt(tmp_path / "m.txt", x, fmt="%8.2f", header="a b label", comments="")
    assert (tmp_path / "m.txt").read_text().splitlines()[1].startswith("    0.50")
    r = invoke("convert", tmp_path / "m.txt", "--out", tmp_path / "m.npz")
    assert r.exit_code == 0 and "4 rows of 2 features, 3 labeled and 1 unlabeled" in r.output, r.output
    with np.load(tmp_path / "m.npz") as d:
        assert d["x"].tolist() == x[:, :2].tolist() and d["y"].tolist() == [0, 1, -1, 1]
        assert "classes" not in d.files  # (0.00 and 1.00 are the classes 0 and 1)
    np.savetxt(tmp_path / "hashed.txt", x, header="a b label")  # (numpy's own header line: "# a b label")
    r = invoke("convert", tmp_path / "hashed.txt", "--out", tmp_path / "h.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "h.npz") as d:
        assert d["features"].tolist() == ["a", "b"] and d["x"].tolist() == x[:, :2].tolist()
    for name, text in (("num.csv", "#,a,label\n1,2,x\n2,3,y\n"), ("num.txt", "# a label\n1 2 x\n2 3 y\n")):
        r = invoke("convert", write(tmp_path / name, text), "--out", tmp_path / "num.npz")  # (rows numbered in "#")
        assert r.exit_code == 0, r.output
        with np.load(tmp_path / "num.npz") as d:
            assert d["features"].tolist() == ["#", "a"] and d["x"].tolist() == [[1, 2], [2, 3]]
    np.savetxt(tmp_path / "plain.txt", x)  # (no header: one line says what to give)
    r = invoke("convert", tmp_path / "plain.txt", "--out", tmp_path / "p.npz")
    assert r.exit_code == 2 and "its first row looks like data, not column names: give --no-header" in r.output
    r = invoke("convert", tmp_path / "plain.txt", "--no-header", "--label", 3, "--out", tmp_path / "p.npz")
    assert r.exit_code == 0 and "3 labeled and 1 unlabeled" in r.output, r.output


@pytest.mark.parametrize("labels, y, classes", [
    (["0", "1", "2", ""], [0, 1, 2, -1], None),  # the numbers 0..K-1 are their own classes
    (["1.0", "2.0", "", "2.0"], [0, 1, -1, 1], ["1", "2"]),  # (pandas writes labels beside missing ones as floats)
    (["10", "2", "2", "?"], [1, 0, 0, -1], ["2", "10"]),  # (numbers ordered as numbers)
])
def test_labels_that_are_numbers(tmp_path, labels, y, classes):
    train = write(tmp_path / "t.csv", "f,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    r = invoke("convert", train, "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "t.npz") as d:
        assert d["y"].tolist() == y
        assert (d["classes"].tolist() if "classes" in d.files else None) == classes


def test_a_spreadsheets_table_semicolons_and_byte_order_mark(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark; in many locales it separates by semicolons."""
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffx;label\n0.5;a\n1.5;b\n\n".encode("utf-8"))
    r = invoke("convert", path, "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "t.npz") as d:
        assert d["x"].tolist() == [[0.5], [1.5]] and d["classes"].tolist() == ["a", "b"]


@pytest.mark.parametrize("files, args, message", [
    ({"t.csv": TABLE}, ["t.csv"], "t.csv has no column 'label' (its columns: height, weight, species): name the column "
                                  "of labels with --label NAME, or give --no-label for rows to classify"),
    ({"t.csv": "a,label\n1,x\nM,y\n"}, ["t.csv"], "t.csv, line 3: column 'a' holds 'M', which is not a number: give "
                                                  "--categorical a for a 0/1 feature per value, or leave the column out "
                                                  "with --drop a"),
    ({"t.csv": "a,label\n1,x\n,y\n"}, ["t.csv"], "t.csv, line 3: column 'a' is empty; ssgan needs every feature: "
                                                 "give --impute median (or mean, most_frequent) to fill missing cells "
                                                 "from the table's rows, or leave the column out with --drop a"),
    ({"t.csv": "a,label\n1,x\nNA,y\n"}, ["t.csv"], "t.csv, line 3: column 'a' holds 'NA', a missing value; ssgan "
                                                   "needs every feature: give --impute median"),
    ({"t.csv": "a,label\n1,x\n2,y\n", "s.csv": "a,label\n?,x\n"}, ["t.csv", "--test", "s.csv"],
     "s.csv, line 2: column 'a' holds '?', a missing value; ssgan needs every feature: give --impute median (or mean, "
     "most_frequent) to fill missing cells from the training table's rows"),
    ({"t.csv": "a,c,label\n1,u,x\n2,,y\n"}, ["t.csv", "--categorical", "c"],
     "t.csv, line 3: column 'c' is empty; ssgan needs every feature: give --impute most_frequent to fill it with the "
     "column's most frequent category, or write a category for missing values (such as unknown)"),
    ({"n.csv": "a,z\n,7\n"}, ["n.csv", "--no-label", "--like", "like.npz"],  # (like.npz: converted without --impute)
     "n.csv, line 2: column 'a' is empty; ssgan needs every feature: like.npz was converted without --impute, so "
     "nothing fills it: leave such rows out, or convert the training table again with --impute"),
    ({"t.csv": "a,b,label\n1,,x\n2,NaN,y\n"}, ["t.csv", "--impute", "median"],
     "t.csv: column 'b' has no value in any row, so nothing can fill it; leave it out with --drop b"),
    ({"t.csv": "a,c,label\n1,,x\n2,,y\n"}, ["t.csv", "--categorical", "c", "--impute", "mean"],
     "t.csv: column 'c' has no value in any row, so nothing can fill it; leave it out with --drop c"),
    ({"n.csv": "a\n3\n"}, ["n.csv", "--no-label", "--like", "like.npz", "--impute", "median"],
     "--like like.npz gives the columns, their categories and what fills missing cells; give no --categorical, "
     "--drop, --impute or --missing-indicator with it"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n"}, ["t.csv", "--categorical", "d"],
     "--categorical d: t.csv has no column 'd' (its columns: a, c, label)"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n"}, ["t.csv", "--drop", "label"],
     "--drop label: 'label' is the column of labels; give a column of features"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n"}, ["t.csv", "--drop", "c", "--categorical", "c"],
     "column 'c' is given to both --categorical and --drop; give it to one"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n"}, ["t.csv", "--drop", "a", "--drop", "c"],
     "t.csv has no column of features beside 'label' and those dropped"),
    ({"t.csv": "a,c,c=u,label\n1,u,3,x\n2,v,4,y\n"}, ["t.csv", "--categorical", "c"],
     "t.csv: 'c=u' names a column and a feature that convert makes (a value of a column of categories, or a "
     "column's missing cells); rename the column"),
    ({"t.csv": "a,a:missing,label\n,1,x\n2,4,y\n"}, ["t.csv", "--impute", "mean", "--missing-indicator"],
     "t.csv: 'a:missing' names a column and a feature that convert makes"),
    ({"t.csv": "a,label\n1,x\n,y\n"}, ["t.csv", "--missing-indicator"],
     "--missing-indicator marks the cells that --impute fills: give --impute too"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n", "s.csv": "c,a,label\nw,1,x\n"}, ["t.csv", "--categorical", "c", "--test",
                                                                            "s.csv"],
     "s.csv, line 2: column 'c' holds 'w', which is not among the values of t.csv (u, v), so no feature stands for it: "
     "give --unknown-category ignore to encode such a value as none of them (all zeros), or leave such rows out"),
    ({"t.csv": "a,c,label\n1,5,x\n2,6,y\n", "s.csv": "c,a,label\n5,1,x\nM,2,y\n"}, ["t.csv", "--test", "s.csv"],
     "s.csv, line 3: column 'c' holds 'M', which is not a number: it is a column of numbers in t.csv"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n"}, ["t.csv", "--id", "k"], "--id k: t.csv has no column 'k' (its columns: "
                                                                     "a, c, label): give the column that names each "
                                                                     "row, or leave --id out"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n"}, ["t.csv", "--id", "label"],
     "--id label: 'label' is the column of labels; give the column that names the rows"),
    ({"t.csv": "a,c,label\n1,u,x\n2,v,y\n"}, ["t.csv", "--id", "c", "--drop", "c"],
     "column 'c' is given to both --drop and --id; give it to one"),
    ({"n.csv": "a,b\n3,4\n"}, ["n.csv", "--no-label", "--like", "like.npz", "--id", "a"],
     "--id a: 'a' is a feature of like.npz; give the column that names the rows"),
    ({"n.csv": "a\n3\n"}, ["n.csv", "--no-label", "--like", "like.npz", "--drop", "a"],
     "--like like.npz gives the columns, their categories and what fills missing cells; give no --categorical, "
     "--drop, --impute or --missing-indicator with it"),
    ({"t.csv": "a,label\n1,x\ninf,y\n"}, ["t.csv", "--impute", "median"],
     "column 'a' holds 'inf'; ssgan needs finite numbers: write a number, or leave the cell empty and give --impute"),
    ({"t.csv": "a;label\n1,5;x\n2,5;y\n"}, ["t.csv"], "t.csv, line 2: column 'a' holds '1,5', a decimal comma: "
                                                       "convert with --decimal-comma, or save the table with decimal "
                                                       "points (1.5)"),
    ({"t.csv": "a;label\n1,5;x\n1.500;y\n"}, ["t.csv", "--decimal-comma"],  # (1.5, or one thousand five hundred?)
     "t.csv, line 3: column 'a' holds '1.500', a point among decimal commas (a thousands separator, as in 1.500, or a "
     "decimal point?): save the table without thousands separators, with one decimal mark throughout"),
    ({"t.csv": "a,label\n1,x\n\n,y\n"}, ["t.csv"], "t.csv, line 4: column 'a' is empty"),  # (the blank line counts)
    # a column of labels under another name: scikit-learn's (target), in capitals, or mistyped
    ({"t.csv": "a,target\n1,0\n2,1\n"}, ["t.csv"], "t.csv has no column 'label' (its columns: a, target): did you "
                                                     "mean --label target? (or --no-label for rows to classify)"),
    ({"t.csv": "a,Label\n1,0\n2,1\n"}, ["t.csv"], "did you mean --label Label?"),
    ({"t.csv": "a,species\n1,x\n2,y\n"}, ["t.csv", "--label", "specis"], "did you mean --label species?"),
    ({"t.csv": "a,b,label\n1,,x\n2,-nan,y\n"}, ["t.csv", "--impute", "mean"],  # (a NaN that is no missing cell,
     "t.csv, line 3: column 'b' holds '-nan'; ssgan needs finite numbers"),     # beside one that is)
    ({"t.csv": "a,b,label\n1,,x\n2,inf,y\n"}, ["t.csv", "--impute", "mean"],
     "t.csv, line 3: column 'b' holds 'inf'; ssgan needs finite numbers"),
    ({"t.csv": "a,label\n1,x\n2,y,3\n"}, ["t.csv"], "t.csv, line 3: 3 cells, but the header row names 2 columns"),
    ({"t.csv": "a,label\n1,x\n2,\n"}, ["t.csv"], "column 'label' has one class ('x') among its labels; a classifier "
                                                 "needs two classes or more"),
    ({"t.csv": "a,label\n1,\n2,-1\n"}, ["t.csv"], "column 'label' has no labels (every cell is empty, -1 or NaN)"),
    ({"t.csv": "a,a,label\n1,2,x\n"}, ["t.csv"], "column 'a' is named more than once in the header row"),
    ({"t.csv": "a,label\n"}, ["t.csv"], "t.csv has a header row and no rows of data"),
    ({"t.csv": "\n\n"}, ["t.csv"], "t.csv is empty: it needs a header row of column names and a row per example"),
    ({"t.csv": "label\nx\ny\n"}, ["t.csv"], "t.csv has no column of features beside 'label'"),
    ({"t.csv": "a,label\n1,x\n2,y\n", "s.csv": "a,label\n1,x\n2,z\n"}, ["t.csv", "--test", "s.csv"],
     "s.csv: column 'label' holds the label 'z', which no labeled row of t.csv has; every test row needs a label of "
     "a training class"),
    ({"t.csv": "a,label\n1,x\n2,y\n", "s.csv": "a,label\n1,x\n2,\n"}, ["t.csv", "--test", "s.csv"],
     "s.csv: column 'label' holds an empty label (or -1, NaN); every test row needs a label"),
    ({"t.csv": "a,b,label\n1,1,x\n2,2,y\n", "s.csv": "a,label\n1,x\n"}, ["t.csv", "--test", "s.csv"],
     "s.csv has no column 'b', a feature of t.csv: give its rows the same columns"),
    ({"t.csv": "a,label\n1,x\n2,y\n"}, ["t.csv", "--no-label", "--test", "t.csv"], "--test needs labels to score"),
    ({"t.csv": "a,label\n1,x\n2,y\n", "s.csv": "a\n1\n"}, ["t.csv", "--test", "s.csv"],
     "s.csv has no column 'label' (its columns: a): the test rows need their labels in a column of that name"),
    ({"t.csv": "a,label\n1,x\n2,y\n"}, ["t.csv", "--no-label", "--label", "label"], "give --label NAME or --no-label, "
                                                                                     "not both"),
    ({}, ["nowhere.csv"], "nowhere.csv does not exist"),
    ({"t.csv": "a,label\n1,x\n2,y\n", "n.csv": "b\n3\n"}, ["n.csv", "--no-label", "--like", "like.npz"],
     "n.csv has no column 'a', a feature of like.npz: give its rows the same columns"),
    ({"n.csv": "b\n3\n"}, ["n.csv", "--no-label", "--like", "n.csv"], "--like n.csv cannot be read as an .npz"),
    ({"n.csv": "a\n3\n"}, ["n.csv", "--like", "like.npz"],  # (a training table with --like: not test rows)
     "n.csv has no column 'label' (its columns: a): name the column of labels with --label NAME, or give --no-label"),
    # a table without a header row: its first row is data
    ({"t.data": "5.1,3.5,setosa\n4.9,3.0,virginica\n"}, ["t.data"],
     "t.data has no column 'label' (its columns: 5.1, 3.5, setosa): its first row looks like data, not column names: "
     "give --no-header, which names the columns by place (--label 3 for labels in the last of its 3 columns), or add "
     "a header row"),
    ({"t.data": "5.1,3.5,setosa\n4.9,3.0,virginica\n"}, ["t.data", "--no-header"],
     "t.data has no column 'label' (its columns: 1, 2, 3): its columns are named by place (--no-header): give the "
     "place of the labels, --label 3 for the last column, or --no-label for rows to classify"),
    ({"t.data": "\n"}, ["t.data", "--no-header"], "t.data is empty: it needs a row per example"),
    ({"n.data": "3\n4\n"}, ["n.data", "--no-label", "--like", "like.npz"],  # (rows to classify, saved without it)
     "n.data has no column 'a', a feature of like.npz: its first row looks like data, not column names; add the header "
     "row of like.npz's table (a)"),
    ({"n.csv": "b\n3\n"}, ["n.csv", "--no-label", "--like", "plain.npz"],
     "--like plain.npz names no feature columns (no array features): give an .npz that ssgan convert wrote"),
])
def test_bad_tables_are_one_line_and_write_nothing(tmp_path, monkeypatch, files, args, message):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    np.savez(tmp_path / "like.npz", x=np.zeros((1, 1)), features=np.array(["a"]))
    np.savez(tmp_path / "plain.npz", x=np.zeros((1, 1)))
    r = invoke("convert", *args, "--out", "out.npz")
    assert r.exit_code == 2 and r.output.startswith("Error: ") and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("out, message", [
    ("t.csv", "--out t.csv: convert writes an .npz; give a name that ends in .npz"),
    ("t.csv/x.npz", "--out t.csv/x.npz: t.csv is a file, not a folder"),
    ("folder.npz", "--out folder.npz is a folder: give the name of the .npz file to write"),
])
def test_the_npz_is_named_as_one(tmp_path, monkeypatch, out, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a,label\n1,x\n2,y\n")
    (tmp_path / "folder.npz").mkdir()
    r = invoke("convert", "t.csv", "--out", out)
    assert r.exit_code == 2 and message in r.output and (tmp_path / "t.csv").read_text() == "a,label\n1,x\n2,y\n"


def test_a_file_that_is_not_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    r = invoke("convert", path, "--out", tmp_path / "t.npz")
    assert r.exit_code == 2 and "is not a text file in UTF-8: save it as CSV (UTF-8)" in r.output, r.output


def test_like_takes_the_training_tables_columns_alone(tmp_path):
    """--no-label --like: a table that has more columns (its labels, an id) gives the training
    table's features, by name, and reads no other column (a column of names is no number)."""
    train = write(tmp_path / "t.csv", "a,b,label\n1,2,x\n3,4,y\n")
    assert invoke("convert", train, "--out", tmp_path / "t.npz").exit_code == 0
    rows = write(tmp_path / "rows.csv", "id,label,b,a\nk1,x,20,10\nk2,,40,30\n")
    r = invoke("convert", rows, "--no-label", "--like", tmp_path / "t.npz", "--out", tmp_path / "rows.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "rows.npz") as d:
        assert d["x"].tolist() == [[10, 20], [30, 40]] and d["features"].tolist() == ["a", "b"]


def test_convert_and_its_help_import_no_torch(tmp_path):
    """Every command's start had imported torch (for the exceptions it catches): `ssgan convert
    --help` took 1.5 s, a two-row table as long."""
    import subprocess
    import sys

    write(tmp_path / "t.csv", "a,label\n1,x\n2,y\n")
    code = ("import sys\nfrom click.testing import CliRunner\nfrom ssgan.cli import main\n"
            "for args in (['convert', '--help'], ['convert', 't.csv', '--out', 't.npz']):\n"
            "    r = CliRunner().invoke(main, args)\n    assert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr


def test_a_column_of_measurements_taken_for_labels_is_told(tmp_path):
    """A price column given as --label makes a class of every value: a warning says that ssgan
    classifies, and the line lists the first ten classes, not a hundred."""
    rows = "".join(f"{i},{100 + 3 * i}.5\n" for i in range(40))
    r = invoke("convert", write(tmp_path / "t.csv", "a,price\n" + rows), "--label", "price", "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    assert "Warning: " in r.output and "column 'price' holds 40 different labels among 40 labeled rows" in r.output
    assert "40 classes (100.5, 103.5, 106.5, 109.5, 112.5, 115.5, 118.5, 121.5, 124.5, 127.5 and 30 more)" in r.output


def test_columns_of_categories_become_a_0_1_feature_per_value_and_rows_keep_their_ids(tmp_path):
    """--categorical: a column of text (or of codes) becomes a 0/1 feature per value of the
    training table, named COLUMN=VALUE, in the column's place; --drop leaves a column out; --id
    keeps the rows' names, which predict writes beside its predictions; the test table and new
    rows (--like) get the same features, whatever their columns' order."""
    rng = np.random.default_rng(0)
    k = np.arange(80) % 2
    colour = np.where(k == 1, "red", rng.choice(["blue", "green"], size=80))
    lines = ["id,height,colour,size,label,note"] + [
        f"r{i},{1.0 + 3.0 * k[i] + rng.normal():.3f},{colour[i]},{1 + i % 3},{['no', 'yes'][k[i]] if i < 16 else ''},n"
        for i in range(80)]
    train = write(tmp_path / "t.csv", "\n".join(lines) + "\n")
    test = write(tmp_path / "s.csv", "label,size,colour,height,id\nyes,3,red,4.5,s1\nno,1,blue,0.5,s2\n")
    r = invoke("convert", train, "--categorical", "colour", "--categorical", "size", "--drop", "note", "--id", "id",
               "--test", test, "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"wrote {tmp_path / 't.npz'}: 80 rows of 7 features (colour: 3 values, size: 3 values, "
                               "one 0/1 feature each), named by id, 16 labeled and 64 unlabeled"), r.output
    features = ["height", "colour=blue", "colour=green", "colour=red", "size=1", "size=2", "size=3"]
    with np.load(tmp_path / "t.npz") as d:
        assert d["features"].tolist() == features
        assert d["one_hot"].tolist() == [["colour", "blue"], ["colour", "green"], ["colour", "red"], ["size", "1"],
                                         ["size", "2"], ["size", "3"]]
        assert d["x"][:3].tolist() == [[float(lines[i + 1].split(",")[1]), *(colour[i] == np.array(["blue", "green",
                                        "red"])), *(1 + i % 3 == np.arange(1, 4))] for i in range(3)]
        assert d["x_test"].tolist() == [[4.5, 0, 0, 1, 0, 0, 1], [0.5, 1, 0, 0, 1, 0, 0]]
        assert d["ids"].tolist() == [f"r{i}" for i in range(80)] and d["ids_test"].tolist() == ["s1", "s2"]
    new = write(tmp_path / "new.csv", "colour,size,height,id\ngreen,2,1.0,c7\nred,1,4.0,c9\n")
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--id", "id", "--out", tmp_path / "new.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "new.npz") as d:
        assert d["features"].tolist() == features and d["x"].tolist() == [[1.0, 0, 1, 0, 0, 1, 0],
                                                                          [4.0, 0, 0, 1, 1, 0, 0]]
        assert d["ids"].tolist() == ["c7", "c9"]
    r = invoke("fit", "--dataset", f"npz:{tmp_path / 't.npz'}", "--epochs", 1, "--batch-size", 16,
               "--out", tmp_path / "runs", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    run = json.loads(r.stdout)["run"]
    r = invoke("predict", run, "--data", f"npz:{tmp_path / 'new.npz'}", "--out", tmp_path / "p.csv")
    assert r.exit_code == 0, r.output
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].startswith("row,id,pred,class,p_real,") and [row.split(",")[:2] for row in rows[1:]] == [
        ["0", "c7"], ["1", "c9"]]
    r = invoke("predict", run, "--data", f"npz:{tmp_path / 't.npz'}", "--key", "x_test", "--out", tmp_path / "p.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "p.npz") as d:
        assert d["ids"].tolist() == ["s1", "s2"] and len(d["pred"]) == 2


def test_rows_converted_like_a_table_are_named_by_its_id_column_where_they_have_it(tmp_path):
    """--like takes the column that named the training table's rows (--id) as well: new rows
    that have it keep their names without --id (and with --id, the column it gives); rows
    without it, or like an .npz made without --id, go unnamed, and the line says which."""
    train = write(tmp_path / "t.csv", "id,a,label\n" + "".join(f"r{i},{i},{i % 2}\n" for i in range(20)))
    assert invoke("convert", train, "--id", "id", "--out", tmp_path / "t.npz").exit_code == 0
    assert invoke("convert", train, "--out", tmp_path / "plain.npz", "--drop", "id").exit_code == 0
    with np.load(tmp_path / "t.npz") as d:
        assert str(d["id_column"]) == "id"
    new = write(tmp_path / "new.csv", "a,code,id\n5,k1,c7\n2,k2,c9\n")
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--out", tmp_path / "new.npz")
    assert r.exit_code == 0, r.output
    assert f"2 rows of 1 feature, named by id (as {tmp_path / 't.npz'}'s rows), no labels" in r.output, r.output
    with np.load(tmp_path / "new.npz") as d:
        assert d["ids"].tolist() == ["c7", "c9"] and str(d["id_column"]) == "id" and d["x"].tolist() == [[5.0], [2.0]]
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--id", "code", "--out", tmp_path / "k.npz")
    assert r.exit_code == 0 and "named by code, no labels" in r.output, r.output
    with np.load(tmp_path / "k.npz") as d:
        assert d["ids"].tolist() == ["k1", "k2"]
    bare = write(tmp_path / "bare.csv", "a\n5\n2\n")
    r = invoke("convert", bare, "--no-label", "--like", tmp_path / "t.npz", "--out", tmp_path / "bare.npz")
    assert r.exit_code == 0, r.output
    assert (f"2 rows of 1 feature, not named ({tmp_path / 't.npz'} named its rows by id, a column this table lacks), "
            "no labels") in r.output, r.output
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "plain.npz", "--out", tmp_path / "plain-new.npz")
    assert r.exit_code == 0 and "2 rows of 1 feature, no labels" in r.output, r.output
    for unnamed in ("bare.npz", "plain-new.npz"):
        with np.load(tmp_path / unnamed) as d:
            assert "ids" not in d.files and "id_column" not in d.files


def test_a_column_of_categories_that_names_its_rows_is_told(tmp_path):
    train = write(tmp_path / "t.csv", "name,a,label\n" + "".join(f"n{i},{i},{i % 2}\n" for i in range(30)))
    r = invoke("convert", train, "--categorical", "name", "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    assert ("Warning: " in r.output and "column 'name' holds 30 different values among 30 rows, each a feature of its "
            "own: if it names the rows (an id), give --id name instead" in r.output), r.output


def test_names_of_rows_that_do_not_fit_their_rows_are_one_line(tmp_path):
    from ssgan.data import row_ids
    from ssgan.errors import SSGANError

    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), ids=np.array(["a", "b"]), x_test=np.zeros((2, 2)),
             ids_test=np.array([7, 9]))
    spec = f"npz:{tmp_path / 'd.npz'}"
    assert row_ids(spec, "x_test", 2) == ["7", "9"] and row_ids(spec, "rows", 3) is None
    with pytest.raises(SSGANError, match=r"d.npz: ids names the rows of x, but it is an array of shape \(2,\) and dtype "
                                         r"<U1; save one name \(text or a whole number\) per row of x, 3 in all"):
        row_ids(spec, "x", 3)


@pytest.mark.parametrize("strategy, a_fill, b_fill", [("median", 2.0, 2.5), ("mean", 2.25, 2.5),
                                                     ("most_frequent", 2.0, 0.0)])  # (b's ties: the smallest)
def test_missing_cells_are_filled_from_the_training_rows_and_so_are_those_of_test_and_new_rows(tmp_path, strategy,
                                                                                               a_fill, b_fill):
    """--impute: a missing cell (empty, NA, NaN, ?, null, ...) of a column of numbers takes the
    column's median, mean or most frequent value over the training table's rows, one of a column
    of categories its most frequent value; the .npz keeps those values, which fill the test rows
    and new rows converted --like it (never by their own statistics)."""
    train = write(tmp_path / "t.csv", "a,colour,b,label\n1,red,0,x\nNA,,1,y\n2,blue,2,x\n2,red,3,y\nnull,NA,4,\n"
                                      "4,red,5,\n")  # (a: 1, 2, 2, 4 known; colour: red 3 times, blue once)
    test = write(tmp_path / "s.csv", "label,b,colour,a\ny,?,,3\nx,1,blue,NaN\n")
    r = invoke("convert", train, "--categorical", "colour", "--impute", strategy, "--test", test, "--out",
               tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"wrote {tmp_path / 't.npz'}: 6 rows of 4 features (colour: 2 values, one 0/1 feature "
                               f"each), 4 missing cells filled from the table's rows ({strategy}), 4 labeled and 2 "
                               "unlabeled, 2 classes (x, y); 2 test rows (3 missing cells filled); train"), r.output
    blue, red = [1.0, 0.0], [0.0, 1.0]
    with np.load(tmp_path / "t.npz") as d:
        assert d["features"].tolist() == ["a", "colour=blue", "colour=red", "b"]
        assert d["fill"].tolist() == [["a", repr(a_fill)], ["colour", "red"], ["b", repr(b_fill)]]
        assert d["x"].tolist() == [[1, *red, 0], [a_fill, *red, 1], [2, *blue, 2], [2, *red, 3], [a_fill, *red, 4],
                                   [4, *red, 5]]
        assert d["x_test"].tolist() == [[3, *red, b_fill], [a_fill, *blue, 1]]
    new = write(tmp_path / "n.csv", "b,a,colour\nN/A,,\n5,6,blue\n")
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--out", tmp_path / "n.npz")
    assert r.exit_code == 0 and f"3 missing cells filled as in {tmp_path / 't.npz'}" in r.output, r.output
    with np.load(tmp_path / "n.npz") as d:
        assert d["x"].tolist() == [[a_fill, *red, b_fill], [6, *blue, 5]]
        assert d["fill"].tolist() == [["a", repr(a_fill)], ["colour", "red"], ["b", repr(b_fill)]]


def test_categories_the_training_table_lacks_are_none_of_its_values_with_unknown_category_ignore(tmp_path):
    """--unknown-category ignore: a category of the test rows or of new rows (--like) that no
    training row has is encoded as none of the training table's values (all zeros, scikit-
    learn's handle_unknown="ignore"), counted in convert's line; on a training table alone the
    option acts on nothing, and a warning says so."""
    train = write(tmp_path / "t.csv", "a,c,label\n1,u,x\n2,v,y\n3,u,\n")
    test = write(tmp_path / "s.csv", "c,a,label\nw,1,x\nv,2,y\nz,3,x\n")
    r = invoke("convert", train, "--categorical", "c", "--test", test, "--unknown-category", "ignore", "--out",
               tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    assert ("; 3 test rows (2 cells of categories the training table lacks encoded as none (all zeros)); train"
            in r.output and "Warning" not in r.output), r.output
    with np.load(tmp_path / "t.npz") as d:
        assert d["features"].tolist() == ["a", "c=u", "c=v"]
        assert d["x_test"].tolist() == [[1, 0, 0], [2, 0, 1], [3, 0, 0]] and d["y_test"].tolist() == [0, 1, 0]
    new = write(tmp_path / "n.csv", "a,c\n5,q\n6,u\n")
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--unknown-category", "ignore", "--out",
               tmp_path / "n.npz")
    assert r.exit_code == 0 and (", 1 cell of categories the training table lacks encoded as none (all zeros), no "
                                 "labels" in r.output), r.output
    with np.load(tmp_path / "n.npz") as d:
        assert d["x"].tolist() == [[5, 0, 0], [6, 1, 0]]
    r = invoke("convert", train, "--categorical", "c", "--unknown-category", "ignore", "--out", tmp_path / "u.npz")
    assert r.exit_code == 0 and "Warning: --unknown-category has no effect here" in r.output, r.output


def test_missing_indicator_adds_a_0_1_feature_after_each_column_with_gaps(tmp_path):
    """--missing-indicator (with --impute): each column with a missing cell in the training table
    gets a feature after its own, COLUMN:missing, 1 where the cell was missing (scikit-learn's
    add_indicator), in the test rows and the new rows (--like) alike; a column without gaps gets
    none, even where a test row lacks it."""
    train = write(tmp_path / "t.csv", "a,colour,b,label\n1,red,5,x\n,blue,6,y\n3,,7,x\n5,red,8,\n")
    test = write(tmp_path / "s.csv", "a,colour,b,label\n,red,,x\n2,blue,6,y\n")
    r = invoke("convert", train, "--categorical", "colour", "--impute", "median", "--missing-indicator", "--test", test,
               "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    assert ("4 rows of 6 features (colour: 2 values, one 0/1 feature each), 2 missing cells filled from the table's "
            "rows (median), marked in 2 features (a:missing, colour:missing), 3 labeled" in r.output), r.output
    features = ["a", "a:missing", "colour=blue", "colour=red", "colour:missing", "b"]
    with np.load(tmp_path / "t.npz") as d:
        assert d["features"].tolist() == features and d["indicators"].tolist() == ["a", "colour"]
        assert d["x"].tolist() == [[1, 0, 0, 1, 0, 5], [3, 1, 1, 0, 0, 6], [3, 0, 0, 1, 1, 7], [5, 0, 0, 1, 0, 8]]
        assert d["x_test"].tolist() == [[3, 1, 0, 1, 0, 6.5], [2, 0, 1, 0, 0, 6]]  # (b's gap filled, not marked)
    new = write(tmp_path / "n.csv", "b,colour,a\n9,,\n1,blue,4\n")
    r = invoke("convert", new, "--no-label", "--like", tmp_path / "t.npz", "--out", tmp_path / "n.npz")
    assert r.exit_code == 0 and "marked in 2 features" in r.output, r.output
    with np.load(tmp_path / "n.npz") as d:
        assert d["features"].tolist() == features and d["x"].tolist() == [[3, 1, 0, 1, 1, 9], [4, 0, 1, 0, 0, 1]]


def test_numbers_with_decimal_commas_are_read_with_decimal_comma_in_every_table_it_reads(tmp_path):
    """A spreadsheet of a locale that writes 1,5 for 1.5 saves its tables with semicolons (or tabs)
    between the cells: --decimal-comma reads them, the test table and rows converted --like too."""
    train = write(tmp_path / "t.csv", "a;b;label\n1,5;-2;x\n3;4,25;y\n5,125;6e-1;\n7;;\n")
    test = write(tmp_path / "test.csv", "b\ta\tlabel\n0,5\t2,75\ty\n")
    r = invoke("convert", train, "--test", test, "--impute", "mean", "--decimal-comma", "--out", tmp_path / "t.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "t.npz") as d:
        assert d["x"].tolist() == [[1.5, -2.0], [3.0, 4.25], [5.125, 0.6], [7.0, (-2.0 + 4.25 + 0.6) / 3]]
        assert d["x_test"].tolist() == [[2.75, 0.5]]
    r = invoke("convert", test, "--no-label", "--like", tmp_path / "t.npz", "--decimal-comma", "--out", tmp_path / "n.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "n.npz") as d:
        assert d["x"].tolist() == [[2.75, 0.5]]


@pytest.mark.parametrize("strategy", ["median", "mean", "most_frequent"])
def test_fill_values_of_many_columns_are_scikit_learns_on_the_whole_table(tmp_path, strategy):
    """fill_values fits SimpleImputer on blocks of columns (so that its median's copies stay small):
    each column's value is the one of a fit on every column at once, in the columns' order."""
    from sklearn.impute import SimpleImputer

    from ssgan.tables import COLUMNS_AT_ONCE, fill_values, read_table

    rng = np.random.default_rng(0)
    n = 2 * COLUMNS_AT_ONCE + 5  # (three blocks, the last one short)
    x = rng.integers(0, 9, (40, n)).astype(float) * (1 + np.arange(n))  # (each column its own scale)
    x[rng.random(x.shape) < 0.2] = np.nan
    lines = [",".join([*(f"c{k}" for k in range(n)), "label"])]
    lines += [",".join([*("" if np.isnan(v) else str(v) for v in row), str(i % 2)]) for i, row in enumerate(x)]
    table = read_table(write(tmp_path / "t.csv", "\n".join(lines) + "\n"), "label", missing=True)
    whole = SimpleImputer(strategy=strategy).fit(x).statistics_
    assert list(fill_values(table, strategy, "t.csv").values()) == whole.tolist()

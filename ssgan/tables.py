"""Tables of the user's own: a CSV file (a header row, a column of labels, the rest numbers)
turned into the .npz that ``--dataset npz:PATH`` reads (``ssgan convert``).

ssgan trains on arrays; tabular data mostly come as CSV, with the labels of a few rows in a
column and the others left empty. The conversion is its own step, so that the run's data are
the .npz, whose SHA-256 its split keeps, and every command reads them one way.
"""

from __future__ import annotations

import csv
import difflib
import itertools
import math
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ssgan.errors import SSGANError

UNLABELED_CELLS = ("", "-1", "nan", "na", "n/a", "none", "null", "?")  # (lower case) a row without a label
LABEL_NAMES = ("label", "target", "class", "labels", "y")  # (lower case) what a table's column of labels is often called
MISSING_CELLS = ("", "nan", "na", "n/a", "none", "null", "?")  # (lower case) a feature's missing value, with --impute
COLUMNS_AT_ONCE = 64  # columns whose fill values SimpleImputer fits at a time: its median copies what it is given
IMPUTE = ("median", "mean", "most_frequent")  # scikit-learn's SimpleImputer strategies that --impute takes
MISSING = ":missing"  # the end of the name of a feature that marks a column's missing cells (--missing-indicator)


class Spaced(csv.excel):
    """The cells of a line between runs of spaces (the line stripped first)."""

    delimiter = " "
    skipinitialspace = True


ROWS_AT_ONCE = 4096  # rows converted into one block of the features, so that a table is never held as text


class Table(NamedTuple):
    """A CSV table as :func:`read_table` reads it."""

    columns: list[str]  # the feature columns, in order
    numbers: np.ndarray  # the numeric ones' values (float64, rows by columns; NaN where missing, with ``missing``)
    cells: dict[str, list[str]]  # each column of categories' cells, stripped ("" where missing, with ``missing``)
    lines: list[int]  # each row's line in the file, where there are columns of categories (their messages)
    labels: list[str] | None  # the label cells, stripped; None without a label column
    ids: list[str] | None  # the cells that name the rows (--id), stripped; None without

    @property
    def numeric(self) -> list[str]:
        """The columns of numbers, in order (the columns of ``numbers``)."""
        return [column for column in self.columns if column not in self.cells]


def read_table(path: str | Path, label: str | None, columns: list[str] | None = None,
               of: str | Path | None = None, test: bool = False, categorical: Collection[str] = (),
               drop: Collection[str] = (), ids: str | None = None, missing: bool = False,
               decimal_comma: bool = False, header_row: bool = True, ids_optional: bool = False) -> Table:
    """The CSV file ``path`` as a :class:`Table`: its feature columns are every column but the
    labels (``label``, None for none), ``ids`` and ``drop``, or ``columns`` (those of ``of``),
    found by name and in their order, since a table's columns in another order would be read as
    other features (``test``: the test rows of ``of``, which need not have ``ids``);
    ``categorical`` names the columns of categories, kept as text, the others must hold numbers;
    ``ids`` the column whose cells name the rows (``ids_optional``: where the table has it; the
    rows go unnamed where it does not). A missing feature (a cell that is empty, NA,
    NaN, ...: ``MISSING_CELLS``) is a one-line error, or with ``missing`` NaN among the numbers
    and "" among the categories, for :func:`fill` to fill. ``decimal_comma``: the numbers are
    written with a decimal comma (1,5), as spreadsheets save them in many locales. Without
    ``header_row`` the first row is data, and the columns are named by place, "1", "2", ... (as
    tables of the UCI repository come). Cells are separated by commas, semicolons or tabs, or,
    in a file with none of these, by spaces (``numpy.savetxt``'s tables). The rows are read
    one after another, into blocks of numbers."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # (utf-8-sig: Excel's byte-order mark)
            sample = f.read(1 << 16)
            f.seek(0)
            spaced = not any(c in sample for c in ",;\t") and " " in sample.strip()
            if spaced:  # (any run of spaces between cells, and around them)
                dialect, lines = Spaced, (line.strip() for line in f)
            else:
                try:
                    dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
                except csv.Error:  # (one column, say)
                    dialect = csv.excel
                lines = f
            reader = csv.reader(lines, dialect)
            rows = (row for row in reader if any(cell.strip() for cell in row))  # (blank lines, as spreadsheets end files)
            first = next(rows, [])
            if not first:
                raise SSGANError(f"{path} is empty: it needs " + ("a header row of column names and " if header_row
                                                                  else "") + "a row per example")
            if header_row:
                header = [name.strip() for name in first]
                # numpy.savetxt's header="a b label" writes "# a b label": the "#" is no column's name (a column
                # named "#", as spreadsheets number rows, is one where the rows have a cell more)
                if header[0].startswith("# "):
                    header[0] = header[0][2:].strip()
                elif header[0] == "#" and spaced:
                    second = next(rows, None)
                    rows = itertools.chain([second] if second is not None else [], rows)
                    if second is not None and len(second) == len(header) - 1:
                        header = header[1:]
            else:
                header, rows = [str(k + 1) for k in range(len(first))], itertools.chain([first], rows)
            names, features, at, named = _feature_columns(path, header, label, columns, of, test, categorical, drop,
                                                           ids, header_row, ids_optional)
            numeric = [k for k in features if header[k] not in categorical]
            kept = {header[k]: k for k in features if header[k] in categorical}
            cells: dict[str, list[str]] = {name: [] for name in kept}
            blocks, lines, labels, row_ids, block = [], [], [], [], []
            for row in rows:
                if len(row) != len(header):
                    raise SSGANError(f"{path}, line {reader.line_num}: {len(row)} cells, but the header row names "
                                     f"{len(header)} columns")
                block.append(_numbers(row, numeric, header, path, reader.line_num, of, test, missing, decimal_comma))
                for name, k in kept.items():
                    cells[name].append(_category(row[k], path, reader.line_num, name, of, test, missing))
                if kept:
                    lines.append(reader.line_num)
                if at is not None:
                    labels.append(_label(row[at]))
                if named is not None:
                    row_ids.append(row[named].strip())
                if len(block) == ROWS_AT_ONCE:
                    blocks.append(np.array(block).reshape(len(block), len(numeric)))
                    block = []
    except FileNotFoundError:
        raise SSGANError(f"{path} does not exist: give the path of a CSV table") from None
    except UnicodeDecodeError:
        raise SSGANError(f"{path} is not a text file in UTF-8: save it as CSV (UTF-8)") from None
    except (OSError, csv.Error) as e:
        raise SSGANError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if block:
        blocks.append(np.array(block).reshape(len(block), len(numeric)))
    if not blocks:
        raise SSGANError(f"{path} has a header row and no rows of data")
    return Table(names, np.concatenate(blocks), cells, lines, None if at is None else labels,
                 None if named is None else row_ids)


def _feature_columns(path: Path, header: list[str], label: str | None, columns: list[str] | None,
                     of, test: bool = False, categorical: Collection[str] = (),
                     drop: Collection[str] = (), ids: str | None = None, header_row: bool = True,
                     ids_optional: bool = False) -> tuple[list[str], list[int], int | None, int | None]:
    """The names and places of the feature columns of a table of ``header`` (``columns``, those
    of ``of``, by name; else all but ``label``, ``ids`` and ``drop``), the place of its labels
    and that of the column ``ids`` (None without; a table of test rows, or with ``ids_optional``
    any table, may have none);
    ``header_row=False``: the names are the columns' places (--no-header)."""
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise SSGANError(f"{path}: column {twice[0]!r} is named more than once in the header row; name each once")
    if label is not None and label not in header:
        close = difflib.get_close_matches(label.lower(), [name.lower() for name in header], n=1, cutoff=0.75)
        meant = next((name for name in header if close and name.lower() == close[0]), None) or next(
            (name for name in header if name.lower() in LABEL_NAMES), None)  # (Label, a typo; scikit-learn's target)
        how = ("the test rows need their labels in a column of that name" if test else
               f"did you mean --label {meant}? (or --no-label for rows to classify)" if meant else
               f"its columns are named by place (--no-header): give the place of the labels, --label {len(header)} for "
               "the last column, or --no-label for rows to classify" if not header_row else
               f"its first row looks like data, not column names: give --no-header, which names the columns by place "
               f"(--label {len(header)} for labels in the last of its {len(header)} columns), or add a header row"
               if _data_row(header) else
               "name the column of labels with --label NAME, or give --no-label for rows to classify")
        raise SSGANError(f"{path} has no column {label!r} (its columns: {_columns(header)}): {how}")
    if ids is not None and ids not in header and not (test or ids_optional):
        raise SSGANError(f"--id {ids}: {path} has no column {ids!r} (its columns: {_columns(header)}): give the column "
                         "that names each row, or leave --id out")
    if ids is not None and ids == label:
        raise SSGANError(f"--id {ids}: {ids!r} is the column of labels; give the column that names the rows")
    if columns is not None:
        if ids in columns:
            raise SSGANError(f"--id {ids}: {ids!r} is a feature of {of}; give the column that names the rows")
        missing = [name for name in columns if name not in header]
        if missing:
            if _data_row(header) and not test:  # (a table without its header row, for rows to classify)
                raise SSGANError(f"{path} has no column {missing[0]!r}, a feature of {of}: its first row looks like "
                                 f"data, not column names; add the header row of {of}'s table ({_columns(columns)})")
            raise SSGANError(f"{path} has no column {missing[0]!r}, a feature of {of}: give its rows the same columns")
        features = [header.index(name) for name in columns]
    else:
        for option, names in (("--categorical", categorical), ("--drop", drop)):
            for name in names:
                if name not in header:
                    raise SSGANError(f"{option} {name}: {path} has no column {name!r} (its columns: "
                                     f"{_columns(header)})")
                if name == label:
                    raise SSGANError(f"{option} {name}: {name!r} is the column of labels; give a column of features")
        for first, second, names in (("--categorical", "--drop", drop), ("--categorical", "--id", [ids]),
                                     ("--drop", "--id", [ids])):
            both = [name for name in (categorical if first == "--categorical" else drop) if name in names]
            if both:
                raise SSGANError(f"column {both[0]!r} is given to both {first} and {second}; give it to one")
        features = [k for k, name in enumerate(header) if name not in (label, ids) and name not in drop]
    if not features:
        raise SSGANError(f"{path} has no column of features beside {label!r}" + (" and those dropped" if drop else ""))
    return ([header[k] for k in features], features, None if label is None else header.index(label),
            header.index(ids) if ids in header else None)


def _numbers(row: list[str], features: list[int], header: list[str], path: Path, line: int,
             of: str | Path | None = None, test: bool = False, missing: bool = False,
             decimal_comma: bool = False) -> np.ndarray:
    """The features of a row, as numpy reads numbers written as text (with ``decimal_comma``,
    1,5 for 1.5); a one-line error that names the cell where one is missing, no number, or not
    finite (``of``: the table whose columns these are, where they are not the table's own;
    ``test``: its test rows), or NaN for a missing one with ``missing``."""
    cells = [row[k] for k in features]
    if decimal_comma:  # (a point there, as in 1.500, may be a thousands separator: _number refuses it)
        cells = [cell.replace(",", ".") if "." not in cell else "?" for cell in cells]
    if missing:  # (empty cells, the usual gaps, read as NaN here, where each had sent its row to _number)
        cells = [cell or "nan" for cell in cells]
    try:
        values = np.array(cells, dtype=np.float64)
        gaps = ~np.isfinite(values)
        if not gaps.any() or (missing and all(row[features[k]].strip().lower() in MISSING_CELLS
                                              for k in np.flatnonzero(gaps))):
            return values
    except ValueError:
        pass
    # (a row that needs a look at its cells: the first that is wrong, for the message, or missing ones)
    return np.array([_number(row[k], path, line, header[k], of, test, missing, decimal_comma) for k in features],
                    dtype=np.float64)


def _label(cell: str) -> str:
    """A label cell as its class is named: stripped, and a whole number written as a float (pandas
    writes a column of labels with missing ones as 1.0, 2.0, ...) as the whole number.

    >>> [_label(c) for c in (" cat ", "1.0", "2", "1.5", "")]
    ['cat', '1', '2', '1.5', '']
    """
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if math.isfinite(value) and value == int(value) and "." in text else text


def _number(cell: str, path: Path, line: int, column: str, of: str | Path | None = None, test: bool = False,
            missing: bool = False, decimal_comma: bool = False) -> float:
    """A feature cell's value (NaN for a missing one, with ``missing``; with ``decimal_comma``,
    1,5 is 1.5), or a one-line error for a missing cell or one that is no number, which names
    convert's options for such a column (or, with ``of``, the table whose columns these are,
    where it holds numbers)."""
    text = cell.strip()
    if text.lower() in MISSING_CELLS:
        if missing:
            return math.nan
        raise SSGANError(_missing(text, path, line, column, of, test))
    if decimal_comma and "." in text and _is_number(text.replace(".", "").replace(",", ".")):
        raise SSGANError(f"{path}, line {line}: column {column!r} holds {text!r}, a point among decimal commas (a "
                         "thousands separator, as in 1.500, or a decimal point?): save the table without thousands "
                         "separators, with one decimal mark throughout")
    if decimal_comma:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        if _is_number(text.replace(",", ".", 1)):  # (a spreadsheet of a locale that writes 1,5 for 1.5)
            raise SSGANError(f"{path}, line {line}: column {column!r} holds {text!r}, a decimal comma: convert with "
                             f"--decimal-comma, or save the table with decimal points ({text.replace(',', '.', 1)})") from None
        how = (f"give --categorical {column} for a 0/1 feature per value, or leave the column out with --drop "
               f"{column}" if of is None else f"it is a column of numbers in {of}")
        raise SSGANError(f"{path}, line {line}: column {column!r} holds {text!r}, which is not a number: {how}") from None
    if not math.isfinite(value):
        raise SSGANError(f"{path}, line {line}: column {column!r} holds {text!r}; ssgan needs finite numbers: write a "
                         "number, or leave the cell empty and give --impute")
    return value


def _category(cell: str, path: Path, line: int, column: str, of: str | Path | None = None, test: bool = False,
              missing: bool = False) -> str:
    """A cell of a column of categories, stripped; where it is missing, "" with ``missing``, else
    a one-line error for an empty one (without ``missing``, NA and the like are categories, as
    they were before --impute)."""
    text = cell.strip()
    if missing and text.lower() in MISSING_CELLS:
        return ""
    if not text:
        raise SSGANError(_missing(text, path, line, column, of, test, category=True))
    return text


def _missing(text: str, path: Path, line: int, column: str, of: str | Path | None, test: bool,
             category: bool = False) -> str:
    """The one-line error for a missing feature: what fills it, as the table is converted."""
    what = "is empty" if not text else f"holds {text!r}, a missing value"
    if of is not None and not test:  # (rows converted --like an .npz that was converted without --impute)
        how = (f"{of} was converted without --impute, so nothing fills it: leave such rows out, or convert the "
               "training table again with --impute")
    elif category:
        how = ("give --impute most_frequent to fill it with the column's most frequent category, or write a category "
               "for missing values (such as unknown)")
    else:
        how = (f"give --impute median (or mean, most_frequent) to fill missing cells from the "
               f"{'training ' if test else ''}table's rows" + ("" if test else f", or leave the column out with --drop "
                                                                                 f"{column}"))
    return f"{path}, line {line}: column {column!r} {what}; ssgan needs every feature: {how}"


def _warn(message: str) -> None:
    from ssgan.errors import DataWarning

    warnings.warn(message, DataWarning)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _data_row(header: list[str]) -> bool:
    """Whether a header row looks like a row of data (most of its cells numbers): a table saved
    without one.

    >>> _data_row(["5.1", "3.5", "setosa"]), _data_row(["height", "2020", "label"])
    (True, False)
    """
    return 2 * sum(map(_is_number, header)) > len(header)


def _columns(header: list[str], shown: int = 8) -> str:
    return ", ".join(header[:shown]) + (f" and {len(header) - shown} more" if len(header) > shown else "")


def class_names(cells: list[str]) -> list[str]:
    """The classes of labeled cells, in order: by value where every one is a number (2 before
    10), else alphabetically.

    >>> class_names(["10", "2", "2"]), class_names(["dog", "cat"])
    (['2', '10'], ['cat', 'dog'])
    """
    names = sorted(set(cells))
    try:
        return sorted(names, key=float)
    except ValueError:
        return names


def features_in(npz: str | Path) -> list[str] | None:
    """The feature columns that ``ssgan convert`` named in the .npz ``npz``; None for an .npz
    without them (or none there)."""
    try:
        return _read_features(npz).names
    except (OSError, ValueError):
        return None


class Written(NamedTuple):
    """What ``ssgan convert`` wrote into an .npz about its table's columns."""

    names: list[str] | None  # the features' names (``features``; None: none)
    one_hot: list[list[str]]  # the pairs of column and value of its columns of categories (none: [])
    fill: list[list[str]] | None  # the pairs of column and the value that fills its missing cells, as text (--impute)
    indicators: list[str]  # the columns whose missing cells a 0/1 feature marks (--missing-indicator; none: [])
    headerless: bool  # made of a table without a header row (--no-header): its columns named by place
    id_column: str | None  # the column whose cells name its rows (--id; None: none, or written before ssgan kept it)


def _read_features(npz: str | Path) -> Written:
    """What ``ssgan convert`` wrote into the .npz ``npz`` about its table's columns (a ValueError
    for a .npy, one array that names nothing)."""
    loaded = np.load(npz)
    if isinstance(loaded, np.ndarray):
        raise ValueError(f"{npz} is one array, not an .npz")
    with loaded as f:
        return Written([str(name) for name in f["features"]] if "features" in f.files else None,
                       f["one_hot"].tolist() if "one_hot" in f.files else [],
                       f["fill"].tolist() if "fill" in f.files else None,
                       [str(name) for name in f["indicators"]] if "indicators" in f.files else [],
                       "headerless" in f.files and bool(f["headerless"]),
                       str(f["id_column"]) if "id_column" in f.files else None)


def check_columns(trained_on: str | Path, given: str | Path, run: str | Path) -> None:
    """A one-line error where the .npz ``given`` (new rows for ``run``) and ``trained_on`` (the
    run's own) both name their feature columns (``ssgan convert``) and the names differ: the rows
    would be read as other features, and classified wrong in silence."""
    new, own = features_in(given), features_in(trained_on)
    if new is not None and own is not None and new != own:
        how = "columns in another order" if sorted(new) == sorted(own) else "other columns"
        raise SSGANError(f"{given} holds {how} than {run} trained on ({_columns(new, 4)}, against {_columns(own, 4)}): "
                         f"convert its table with --like {trained_on}")


def _encoding_of(npz: str | Path) -> tuple[list[str], dict[str, list[str]], dict[str, float | str] | None, list[str],
                                           bool, str | None]:
    """The table's feature columns, the values of its columns of categories, what fills each
    column's missing cells (None: it was converted without --impute), the columns whose
    missing cells a feature marks, whether the table had no header row, and the column that
    named its rows (None: none), that ``ssgan convert`` wrote into the .npz ``npz``
    (``--like``), or a one-line error."""
    try:
        names, pairs, filled, indicators, headerless, id_column = _read_features(npz)
    except (OSError, ValueError) as e:
        raise SSGANError(f"--like {npz} cannot be read as an .npz ({type(e).__name__})") from None
    if names is None:
        raise SSGANError(f"--like {npz} names no feature columns (no array features): give an .npz that ssgan convert "
                         "wrote")
    categories: dict[str, list[str]] = {}
    for column, value in pairs:
        categories.setdefault(str(column), []).append(str(value))
    column_of = {f"{column}={value}": column for column, values in categories.items() for value in values}
    column_of.update({f"{column}{MISSING}": column for column in indicators})
    values = None if filled is None else {
        str(column): str(value) if column in categories else float(value) for column, value in filled}
    return (list(dict.fromkeys(column_of.get(name, name) for name in names)), categories, values, indicators,
            headerless, id_column)


def fill_values(table: Table, strategy: str, path: str | Path) -> dict[str, float | str]:
    """What fills each feature column's missing cells, from the rows of the training ``table``
    (scikit-learn's ``SimpleImputer``): the ``strategy`` (median, mean or most_frequent) of a
    column of numbers, the most frequent value of a column of categories; a one-line error for
    a column with no value at all."""
    from sklearn.impute import SimpleImputer

    numeric = table.numeric
    empty = [column for column, n in zip(numeric, np.isnan(table.numbers).all(axis=0)) if n]
    empty += [column for column, cells in table.cells.items() if not any(cells)]
    if empty:
        raise SSGANError(f"{path}: column {empty[0]!r} has no value in any row, so nothing can fill it; leave it out "
                         f"with --drop {empty[0]}")
    values: dict[str, float | str] = {}
    for k in range(0, len(numeric), COLUMNS_AT_ONCE):  # (a column's statistic is its own: blocks of columns
        imputer = SimpleImputer(strategy=strategy).fit(table.numbers[:, k:k + COLUMNS_AT_ONCE])  # hold less at once)
        values.update(zip(numeric[k:k + COLUMNS_AT_ONCE], (float(v) for v in imputer.statistics_)))
    for column, cells in table.cells.items():
        imputer = SimpleImputer(missing_values="", strategy="most_frequent")
        values[column] = str(imputer.fit(np.array(cells, dtype=object)[:, None]).statistics_[0])
    return {column: values[column] for column in table.columns}


def fill(table: Table, values: dict[str, float | str]) -> tuple[Table, dict[str, np.ndarray]]:
    """``table`` with its missing cells (read with ``missing``) filled by ``values`` (a value per
    feature column, :func:`fill_values`; its numbers in place), and which rows each column had
    missing (a boolean array per column)."""
    numbers, gaps = table.numbers, np.isnan(table.numbers)
    numbers[gaps] = np.broadcast_to(np.array([values[column] for column in table.numeric], dtype=np.float64),
                                    numbers.shape)[gaps]
    missing = dict(zip(table.numeric, gaps.T))
    missing.update({column: np.array([not cell for cell in cells], dtype=bool) for column, cells in table.cells.items()})
    cells = {column: [cell or str(values[column]) for cell in column_cells] for column, column_cells in table.cells.items()}
    return table._replace(numbers=numbers, cells=cells), missing


def encode(table: Table, categories: dict[str, list[str]], path: str | Path, of: str | Path | None = None,
           unknown: str = "error", marks: dict[str, np.ndarray] | None = None) -> tuple[list[str], np.ndarray, int]:
    """The features' names and values of ``table``, in its columns' order: its numbers, and each
    column of categories as a 0/1 feature per value of ``categories`` (scikit-learn's
    OneHotEncoder), named COLUMN=VALUE, each followed, where ``marks`` has the column, by a 0/1
    feature that is 1 in the rows it marks (its missing cells), named COLUMN:missing; and how
    many cells held a value that ``categories`` lack (those of the table ``of``): with
    ``unknown="ignore"`` each is encoded as none of them (all zeros, the encoder's
    ``handle_unknown="ignore"``), with "error" the first is a one-line error."""
    marks = marks or {}
    if not table.cells and not marks:
        return table.columns, table.numbers, 0
    width = sum(len(categories[column]) if column in table.cells else 1 for column in table.columns) + len(marks)
    x = np.empty((len(table.numbers), width))  # (filled a column at a time: no second copy of the whole)
    names, at, number, unknowns = [], 0, 0, 0
    for column in table.columns:
        if column not in table.cells:
            names.append(column)
            x[:, at] = table.numbers[:, number]
            at, number = at + 1, number + 1
        else:
            block, new = _one_hot(table.cells[column], column, categories[column], table.lines, path, of, unknown)
            x[:, at:at + block.shape[1]] = block
            names += [f"{column}={value}" for value in categories[column]]
            at, unknowns = at + block.shape[1], unknowns + new
        if column in marks:
            names.append(f"{column}{MISSING}")
            x[:, at] = marks[column]
            at += 1
    return names, x, unknowns


def _one_hot(cells: list[str], column: str, values: list[str], lines: list[int], path: str | Path,
             of: str | Path | None, unknown: str) -> tuple[np.ndarray, int]:
    """:func:`encode`'s 0/1 features of the column of categories ``column`` (its ``cells``, on
    the file's ``lines``), a feature per value of ``values``, and how many cells hold none of
    them."""
    from sklearn.preprocessing import OneHotEncoder

    known = set(values)
    new = [i for i, cell in enumerate(cells) if cell not in known]
    if new and unknown == "error":
        raise SSGANError(f"{path}, line {lines[new[0]]}: column {column!r} holds {cells[new[0]]!r}, which is "
                         f"not among the values of {of} ({_columns(values, 4)}), so no feature stands for it: "
                         "give --unknown-category ignore to encode such a value as none of them (all zeros), or "
                         "leave such rows out")
    encoder = OneHotEncoder(categories=[values], sparse_output=False, dtype=np.float64, handle_unknown=unknown)
    with warnings.catch_warnings():  # (of the unknown cells that "ignore" encodes: convert's line counts them)
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        block = encoder.fit(np.array(values, dtype=object)[:, None]).transform(np.array(cells, dtype=object)[:, None])
    return block, len(new)


def _marks(gaps: dict[str, np.ndarray], columns: list[str]) -> dict[str, np.ndarray]:
    """The 0/1 values of the features that mark the missing cells of ``columns`` (:func:`encode`)."""
    return {column: gaps[column] for column in columns}


def _count(gaps: dict[str, np.ndarray]) -> int:
    """How many cells :func:`fill` filled."""
    return int(sum(rows.sum() for rows in gaps.values()))


def convert(train: str | Path, out: str | Path, label: str | None = "label", test: str | Path | None = None,
            like: str | Path | None = None, categorical: Collection[str] = (), drop: Collection[str] = (),
            ids: str | None = None, impute: str | None = None, unknown: str = "error",
            indicator: bool = False, decimal_comma: bool = False, header_row: bool = True) -> dict:
    """Write the .npz of the CSV ``train`` (and ``test``) to ``out``, atomically: ``x`` the
    features, ``features`` their names, ``y`` the labels (-1 where the label cell is empty, -1,
    NaN, NA, ...), ``classes`` their names where they are not already the numbers 0..K-1,
    ``x_test`` and ``y_test`` from ``test`` (its feature columns found by name; every row
    labeled, with a training class); or ``x`` alone with ``label=None`` (rows to classify,
    ``ssgan predict``). Every column but the labels and ``drop`` is a feature; those named in
    ``categorical`` become a 0/1 feature per value of ``train`` (``one_hot``: the pairs of
    column and value). ``like``: an .npz that this wrote, whose feature columns and values
    ``x`` takes, by name and in its order (new rows for a run trained on it). ``ids``: the
    column whose cells name the rows, kept as ``ids`` (and ``ids_test``, where the test table
    has it) for ``predict`` to write beside its predictions, and its name as ``id_column``,
    which ``like`` passes on where the table has that column and ``ids`` is not given.
    ``impute`` (median, mean or most_frequent): a missing feature cell (empty, NA, NaN, ...) of
    either table is filled from ``train``'s rows (:func:`fill_values`; ``fill``: the pairs of
    column and value, which ``like`` passes on), where without it it is a one-line error.
    ``unknown``: "error", or "ignore" to encode a category that ``train`` lacks, in ``test`` or
    in rows converted ``like`` an .npz, as none of its values (all zeros). ``indicator`` (with
    ``impute``): each column with a missing cell in ``train`` gets a 0/1 feature after its own,
    COLUMN:missing, 1 where its cell was missing (scikit-learn's ``add_indicator``;
    ``indicators``: those columns, which ``like`` passes on). ``decimal_comma``: both tables
    write their numbers with a decimal comma (1,5). ``header_row=False``: the tables have none,
    their columns are named by place, "1", "2", ... (``headerless``, which ``like`` passes on).
    Returns what it wrote."""
    from ssgan.fileio import atomic_path, check_folder_can_be

    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise SSGANError(f"--out {out}: convert writes an .npz; give a name that ends in .npz")
    for given in (train, test):
        if given is not None and out.exists() and Path(given).exists() and out.samefile(given):
            raise SSGANError(f"--out {out} is the CSV file {given}: writing there would replace it; give another --out")
    if out.is_dir():
        raise SSGANError(f"--out {out} is a folder: give the name of the .npz file to write")
    check_folder_can_be(out.parent, f"--out {out}")  # (before the table is read)
    if label is None and test is not None:
        raise SSGANError("--test needs labels to score: give the column of labels with --label NAME, not --no-label")
    if like is not None and (categorical or drop or impute or indicator):
        raise SSGANError(f"--like {like} gives the columns, their categories and what fills missing cells; give no "
                         "--categorical, --drop, --impute or --missing-indicator with it")
    if indicator and impute is None:
        raise SSGANError("--missing-indicator marks the cells that --impute fills: give --impute too")
    if impute is not None and impute not in IMPUTE:
        raise SSGANError(f"--impute {impute}: give one of {', '.join(IMPUTE)}")
    if unknown not in ("error", "ignore"):
        raise SSGANError(f"--unknown-category {unknown}: give error or ignore")
    if unknown != "error" and like is None and test is None:
        _warn("--unknown-category has no effect here: it acts on the rows of --test and on rows converted --like an "
              ".npz, whose categories can be ones the training table lacks")
    columns, categories, values, indicate, headerless, named_by = (None, None, None, [], False, None) \
        if like is None else _encoding_of(like)
    header_row = header_row and not headerless  # (rows for a run on a table without a header row come without one)
    carried = ids is None and named_by is not None  # (the rows of a table --like it named as its own were)
    table = read_table(train, label, columns, like, categorical=list(categorical if like is None else categories),
                       drop=drop, ids=named_by if carried else ids, missing=impute is not None or values is not None,
                       decimal_comma=decimal_comma, header_row=header_row, ids_optional=carried)
    ids = named_by if carried and table.ids is not None else ids
    gaps: dict[str, np.ndarray] = {}
    if impute is not None:
        values = fill_values(table, impute, train)
    if values is not None:
        table, gaps = fill(table, values)
    if indicator:
        indicate = [column for column in table.columns if gaps[column].any()]
    if categories is None:
        categories = {column: class_names(cells) for column, cells in table.cells.items()}
        for column, kinds in categories.items():
            if len(kinds) > 10 and len(kinds) > len(table.numbers) / 2:  # (an identifier, or free text)
                _warn(f"{train}: column {column!r} holds {len(kinds)} different values among {len(table.numbers)} "
                      f"rows, each a feature of its own: if it names the rows (an id), give --id {column} instead")
    features, x, unknowns = encode(table, categories, train, like, unknown, _marks(gaps, indicate))
    clash = next((name for name in features if features.count(name) > 1), None)
    if clash is not None:
        raise SSGANError(f"{train}: {clash!r} names a column and a feature that convert makes (a value of a column "
                         "of categories, or a column's missing cells); rename the column")
    cells = table.labels
    arrays: dict[str, np.ndarray] = {"x": x, "features": np.array(features)}
    if table.ids is not None:
        arrays["ids"], arrays["id_column"] = np.array(table.ids), np.array(ids)
    if categories:
        arrays["one_hot"] = np.array([[column, value] for column, kinds in categories.items() for value in kinds])
    if values is not None:
        arrays["fill"] = np.array([[column, repr(value) if isinstance(value, float) else value]
                                   for column, value in values.items()])
    if indicate:
        arrays["indicators"] = np.array(indicate)
    if not header_row:
        arrays["headerless"] = np.array(True)
    summary = {"out": str(out), "rows": len(x), "features": features, "filled": _count(gaps), "unknown": unknowns,
               "indicators": indicate, "ids": ids, "unnamed": named_by if carried and table.ids is None else None,
               "one_hot": {column: len(kinds) for column, kinds in categories.items()}}
    if cells is not None:
        labeled = [cell for cell in cells if cell.lower() not in UNLABELED_CELLS]
        names = class_names(labeled)
        if len(names) < 2:
            raise SSGANError(f"{train}: column {label!r} has " + (f"one class ({names[0]!r}) among its labels"
                             if names else "no labels (every cell is empty, -1 or NaN)") + "; a classifier needs two "
                             "classes or more, each with a labeled row")
        index = {name: k for k, name in enumerate(names)}
        arrays["y"] = np.array([-1 if cell.lower() in UNLABELED_CELLS else index[cell] for cell in cells], np.int64)
        numbered = names == [str(k) for k in range(len(names))]  # (labels 0..K-1 are their own numbers)
        if not numbered:
            arrays["classes"] = np.array(names)
        summary.update(labeled=len(labeled), classes=names)
        if len(names) > 10 and len(names) > len(labeled) / 2:  # (a column of measurements taken for labels)
            _warn(f"{train}: column {label!r} holds {len(names)} different labels among {len(labeled)} labeled rows, "
                  "fewer than two rows each: ssgan classifies, and takes each value for a class; if the column holds "
                  "numbers to predict (a regression), this is not its task")
        if test is not None:
            rows = read_table(test, label, table.columns, train, test=True, categorical=list(table.cells), ids=ids,
                              missing=values is not None, decimal_comma=decimal_comma, header_row=header_row)
            test_gaps: dict[str, np.ndarray] = {}
            if values is not None:
                rows, test_gaps = fill(rows, values)
                summary["test_filled"] = _count(test_gaps)
            _, x_test, summary["test_unknown"] = encode(rows, categories, test, train, unknown,
                                                        _marks(test_gaps, indicate))
            test_cells = rows.labels
            unknown = sorted({cell for cell in test_cells if cell not in index})
            if unknown:
                what = ("an empty label (or -1, NaN)" if unknown[0].lower() in UNLABELED_CELLS
                        else f"the label {unknown[0]!r}, which no labeled row of {train} has")
                raise SSGANError(f"{test}: column {label!r} holds {what}; every test row needs a label of a training "
                                 "class")
            arrays["x_test"] = x_test
            arrays["y_test"] = np.array([index[cell] for cell in test_cells], np.int64)
            if rows.ids is not None:
                arrays["ids_test"] = np.array(rows.ids)
            summary["test_rows"] = len(x_test)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
    except OSError as e:
        raise SSGANError(f"cannot write {out}: {e.strerror or e}") from None
    return summary

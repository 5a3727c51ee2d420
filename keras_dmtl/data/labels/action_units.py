"""Facial action units (FACS): the vocabulary, and how they relate to expressions.

An action unit (AU) is one visible facial movement of the Facial Action Coding
System (Ekman, Friesen & Hager 2002), named by its number ("AU12", lip corner
puller). A sample's AU labels are a multi-hot row over a vocabulary of AUs, with
-1 where an AU was not annotated (see `FaceRecords.action_units`).

Task relatedness, P(AU | expression), couples the AU task to the expression task
(Kollias, Sharmanska & Zafeiriou, FaceBehaviorNet, arXiv 1910.11111 and
2105.03790; the losses are in `keras_dmtl.losses.distribution_matching`). It comes
either from prior knowledge, `prior_relatedness()` (Du, Tao & Martinez 2014, as
FaceBehaviorNet tabulates it), or from samples that carry both labels,
`estimate_relatedness`; `load_relatedness_table` reads one from a CSV file and
`RelatednessTable.matrix` lays it out in a model's label order.

TF-free: readers import this module.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from keras_dmtl.data.records import CANONICAL_EXPRESSIONS
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.records import DataError

# The facial actions of FACS (AUs 1-46; the head and eye positions 51-64 are not
# facial actions and are not labels here). Numbers FACS leaves unused (3, 40) are
# absent.
FACS_ACTION_UNITS: Dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    8: "lips toward each other",
    9: "nose wrinkler",
    10: "upper lip raiser",
    11: "nasolabial deepener",
    12: "lip corner puller",
    13: "sharp lip puller",
    14: "dimpler",
    15: "lip corner depressor",
    16: "lower lip depressor",
    17: "chin raiser",
    18: "lip pucker",
    19: "tongue show",
    20: "lip stretcher",
    21: "neck tightener",
    22: "lip funneler",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
    27: "mouth stretch",
    28: "lip suck",
    29: "jaw thrust",
    30: "jaw sideways",
    31: "jaw clencher",
    32: "lip bite",
    33: "cheek blow",
    34: "cheek puff",
    35: "cheek suck",
    36: "tongue bulge",
    37: "lip wipe",
    38: "nostril dilator",
    39: "nostril compressor",
    41: "lid droop",
    42: "slit",
    43: "eyes closed",
    44: "squint",
    45: "blink",
    46: "wink",
}

# The 17 AUs of the prior-knowledge table (Du et al. 2014's basic expressions, as
# FaceBehaviorNet uses them): the default vocabulary of the readers.
DEFAULT_ACTION_UNITS: Tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 15, 17, 20, 23, 24,
                                         25, 26)

_TABLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tables")
PRIOR_TABLE = os.path.join(_TABLES, "du2014_basic_expressions.csv")

_NAME = re.compile(r"^\s*(?:au\s*)?(\d+)\s*$", re.IGNORECASE)


def action_unit_name(number: int) -> str:
    """The label name of an AU: 12 -> "AU12"."""
    return f"AU{int(number)}"


def action_unit_names(numbers: Iterable[int]) -> List[str]:
    """The label names of AUs, in the order given."""
    return [action_unit_name(number) for number in numbers]


def parse_action_unit(text: str) -> int:
    """Reads an AU as people write it: "AU12", "au 12", "AU01", "12".

    Args:
        text: the AU.

    Returns:
        Its FACS number.

    Raises:
        ValueError: not an AU number, or a number FACS does not define as a facial
            action (the message lists what is accepted).
    """
    match = _NAME.match(text)
    number = int(match.group(1)) if match else None
    if number not in FACS_ACTION_UNITS:
        raise ValueError(f"{text!r} is not a FACS action unit: write AU<number> or <number>, "
                         f"a facial action of FACS (1, 2, 4-39, 41-46).")
    return number


def ordered_action_unit_names(names: Iterable[str]) -> List[str]:
    """The distinct AU names of `names`, in FACS number order ("AU2" before "AU12")."""
    return action_unit_names(sorted({parse_action_unit(name) for name in names}))


def multi_hot(present: Iterable[int], vocabulary: Sequence[int]) -> np.ndarray:
    """One sample's AU labels: 1 for the AUs of `vocabulary` in `present`, else 0.

    AUs of `present` outside the vocabulary are left out.

    Returns:
        int8 (len(vocabulary),).
    """
    present = set(present)
    return np.array([1 if number in present else 0 for number in vocabulary], np.int8)


@dataclasses.dataclass(frozen=True)
class RelatednessTable:
    """P(AU present | expression) for some expressions and AUs.

    Attributes:
        expressions: the expressions the table has a row for.
        action_units: the AU numbers it has a column for.
        probabilities: float32 (len(expressions), len(action_units)) in [0, 1].
        source: where it came from (a file, or "estimated from N samples").
    """

    expressions: Tuple[str, ...]
    action_units: Tuple[int, ...]
    probabilities: np.ndarray
    source: str

    def matrix(self, expression_names: Sequence[str], action_unit_names: Sequence[str],
               absent: str = "error") -> np.ndarray:
        """The table laid out in a model's label order: the relatedness matrix of
        `keras_dmtl.losses.distribution_matching`.

        "neutral" is a face with no AU active (FACS codes a neutral face as AU 0),
        so its row is all zeros when the table has none.

        Args:
            expression_names: the model's expression classes, in order.
            action_unit_names: the model's AU labels ("AU12"), in order.
            absent: what an expression or AU the table has no entry for becomes:
                "error" raises, "zero" reads it as "never present".

        Returns:
            float32 (len(expression_names), len(action_unit_names)).

        Raises:
            DataError: with `absent="error"`, an expression (other than neutral) or
                an AU the table lacks; the message names them and the table.
            ValueError: `absent` is neither choice, or an AU name is not one.
        """
        if absent not in ("error", "zero"):
            raise ValueError(f"absent={absent!r}: choose 'error' or 'zero'.")
        rows = {name: i for i, name in enumerate(self.expressions)}
        columns = {number: j for j, number in enumerate(self.action_units)}
        numbers = [parse_action_unit(name) for name in action_unit_names]
        missing_rows = [name for name in expression_names
                        if name not in rows and name != "neutral"]
        missing_columns = [action_unit_name(n) for n in numbers if n not in columns]
        if absent == "error" and (missing_rows or missing_columns):
            raise DataError(
                f"The relatedness table ({self.source}) has no entry for "
                f"{', '.join(missing_rows + missing_columns)}: estimate one from samples "
                f"with both labels (estimate_relatedness), load a table that covers them "
                f"(load_relatedness_table), or pass absent='zero' to read them as never "
                f"present.")
        matrix = np.zeros((len(expression_names), len(numbers)), np.float32)
        for i, name in enumerate(expression_names):
            if name in rows:
                for j, number in enumerate(numbers):
                    if number in columns:
                        matrix[i, j] = self.probabilities[rows[name], columns[number]]
        return matrix


def _table_error(path: str, line: int, problem: str) -> DataError:
    return DataError(f"{path} line {line}: {problem} A relatedness table is a CSV with the "
                     f"header expression,AU<n>,... and one row per expression of "
                     f"{', '.join(CANONICAL_EXPRESSIONS)}, each cell a probability in [0, 1].")


def _read_header(cells: List[str], path: str, line: int) -> Tuple[int, ...]:
    if not cells or cells[0] != "expression" or len(cells) < 2:
        raise _table_error(path, line, f"the header is {','.join(cells)[:60]!r}.")
    try:
        numbers = tuple(parse_action_unit(cell) for cell in cells[1:])
    except ValueError as error:
        raise _table_error(path, line, f"{error}") from None
    if len(set(numbers)) != len(numbers):
        raise _table_error(path, line, "an AU has two columns.")
    return numbers


def _read_row(cells: List[str], width: int, path: str, line: int) -> Tuple[str, List[float]]:
    if len(cells) != width + 1:
        raise _table_error(path, line, f"expected {width + 1} fields, found {len(cells)}.")
    name = cells[0].lower()
    if name not in CANONICAL_EXPRESSIONS:
        raise _table_error(path, line, f"{cells[0]!r} is not an expression name.")
    values = []
    for cell in cells[1:]:
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 1.0:  # also refuses nan
            raise _table_error(path, line, f"{cell!r} is not a probability in [0, 1].")
        values.append(value)
    return name, values


def load_relatedness_table(path: str) -> RelatednessTable:
    """Reads P(AU | expression) from a CSV file.

    Format: a header `expression,AU1,AU2,...` (AUs as `parse_action_unit` reads
    them), then one row per expression, `happy,0,0,0.51,...`: an expression of
    `CANONICAL_EXPRESSIONS` (any case) and one probability in [0, 1] per AU column.
    Lines whose first cell starts with "#" are comments (say where the numbers
    come from there); blank lines are skipped. The columns are the AUs the table
    covers and the rows the expressions: a 0 means "never present", an AU or an
    expression left out means "not known".

    Args:
        path: the CSV file.

    Returns:
        The table, its `source` the path.

    Raises:
        DataError: a missing file, or a malformed header, row, expression name or
            probability; the message names the file and line.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist: pass the path of a relatedness table CSV.")
    numbers, rows = None, {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for cells in reader:
            cells = [cell.strip() for cell in cells]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if numbers is None:
                numbers = _read_header(cells, path, reader.line_num)
                continue
            name, values = _read_row(cells, len(numbers), path, reader.line_num)
            if name in rows:
                raise _table_error(path, reader.line_num, f"{name} has a second row.")
            rows[name] = values
    if not rows:
        raise DataError(f"{path} holds no relatedness rows: write the header "
                        f"expression,AU<n>,... and one row per expression.")
    return RelatednessTable(tuple(rows), numbers, np.array(list(rows.values()), np.float32),
                            path)


def prior_relatedness() -> RelatednessTable:
    """FaceBehaviorNet's prior knowledge: P(AU | expression) for the six basic
    expressions, from Du, Tao & Martinez (2014), "Compound facial expressions of
    emotion", PNAS 111(15), Table 1, as FaceBehaviorNet lists it (the data file
    `tables/du2014_basic_expressions.csv` says how the numbers were read).

    Returns:
        The table: anger, disgust, fear, happy, sadness and surprise over the 17
        `DEFAULT_ACTION_UNITS`.
    """
    return load_relatedness_table(PRIOR_TABLE)


def estimate_relatedness(expression: np.ndarray, action_units: np.ndarray,
                         expression_names: Sequence[str], action_unit_names: Sequence[str],
                         smoothing: float = 0.0) -> RelatednessTable:
    """Estimates P(AU | expression) from samples that carry both labels.

    For each expression e and AU i, over the samples labelled e whose AU i is
    annotated: (count of AU i present + smoothing) / (count + 2 smoothing), i.e.
    the frequency, pulled toward 1/2 by `smoothing` (additive smoothing: the
    posterior mean under a Beta(smoothing, smoothing) prior). Samples with no
    expression label or an AU entry of -1 do not count for that entry.

    Args:
        expression: int (N,) expression indices, -1 where absent.
        action_units: int (N, A) AU labels: 1, 0, or -1 where not annotated.
        expression_names: the E expression classes.
        action_unit_names: the A AU labels ("AU12").
        smoothing: >= 0. With 0, an expression with no co-labelled sample (or an AU
            never annotated on its samples) is an error; with > 0 it gets 1/2.

    Returns:
        The table over the expressions and AUs given, `source` saying how many
        samples it counted.

    Raises:
        DataError: with smoothing 0, an (expression, AU) with no annotated sample;
            the message names them.
        ValueError: shapes that do not fit the names, or a negative smoothing.
    """
    expression = np.asarray(expression)
    action_units = np.asarray(action_units)
    if smoothing < 0:
        raise ValueError(f"smoothing={smoothing}: it must be >= 0.")
    if (expression.ndim != 1 or action_units.shape != (len(expression), len(action_unit_names))
            or not np.isin(expression, np.arange(MISSING_LABEL, len(expression_names))).all()
            or not np.isin(action_units, (MISSING_LABEL, 0, 1)).all()):
        raise ValueError(f"expression {expression.shape} and action_units {action_units.shape} "
                         f"do not fit {len(expression_names)} expressions and "
                         f"{len(action_unit_names)} AUs (labels -1, 0, 1).")
    numbers = tuple(parse_action_unit(name) for name in action_unit_names)
    labelled = expression != MISSING_LABEL
    one_hot = np.zeros((len(expression), len(expression_names)))
    one_hot[np.flatnonzero(labelled), expression[labelled]] = 1.0
    known = (action_units >= 0).astype(np.float64)
    counts = one_hot.T @ known
    present = one_hot.T @ (action_units == 1).astype(np.float64)
    if smoothing == 0 and (counts == 0).any():
        empty = [f"{expression_names[i]}/{action_unit_name(numbers[j])}"
                 for i, j in zip(*np.nonzero(counts == 0))]
        raise DataError(f"No sample carries both labels for {', '.join(empty[:8])}"
                        f"{' ...' if len(empty) > 8 else ''}: add co-labelled samples, or "
                        f"estimate with smoothing > 0 (those entries then read 1/2).")
    probabilities = (present + smoothing) / np.maximum(counts + 2 * smoothing, 1e-12)
    samples = int((labelled & (known.sum(axis=1) > 0)).sum())
    return RelatednessTable(tuple(expression_names), numbers, probabilities.astype(np.float32),
                            f"estimated from {samples} co-labelled samples")

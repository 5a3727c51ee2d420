"""Readers for the face datasets this project trains and evaluates on.

Each reader walks one published layout and returns a `FaceRecords`: file paths (or,
for FER2013, in-memory 48x48 images), identity and expression indices, and the
subject key that splits must keep together. Nothing is decoded here.

Expression labels are mapped onto `CANONICAL_EXPRESSIONS` through one alias table,
so that records from several datasets share one label space (see `combine`). A
reader's `expression_names` lists the classes its dataset uses, in canonical order.

TF-free: the tf.data pipeline and the command-line tools import this module, and
so may tools that never touch TensorFlow.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from keras_dmtl.data.records import (
    CANONICAL_EXPRESSIONS,
    MISSING_LABEL,
    DataError,
    FaceRecords,
)

_LOG = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")

# Every spelling of an expression that a dataset folder, CSV or flag may use, in
# lower case. The one place where label names are mapped: all readers go through
# `canonical_expression`.
_EXPRESSION_ALIASES = {
    "neutral": "neutral",
    "neutrality": "neutral",
    "anger": "anger",
    "angry": "anger",
    "contempt": "contempt",
    "contemptuous": "contempt",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sadness",
    "sadness": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
}

# The datasets' own label codes, as published.
# CK+ codes 0..7 are the canonical order itself.
_CKPLUS_CODES = CANONICAL_EXPRESSIONS
_FER2013_CODES = ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")
_OULU_CASIA_EXPRESSIONS = ("anger", "disgust", "fear", "happy", "sadness", "surprise")

_FER2013_HEADER = ["emotion", "pixels", "Usage"]
_FER2013_USAGES = ("Training", "PublicTest", "PrivateTest")
_FER2013_SIDE = 48
_MANIFEST_HEADER = ["path", "identity", "expression"]
_MANIFEST_OPTIONAL_COLUMN = "subject"

# Frames kept from the end of each expression sequence (the apex), as the CK+ and
# Oulu-CASIA protocols do.
_APEX_FRAMES = 3

_CKPLUS48_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.(png|jpe?g|bmp)$", re.IGNORECASE)
_OULU_SUBJECT_DIR = re.compile(r"^P\d+$")
_LFW_PAIR_INDEX = re.compile(r"^[1-9]\d*$")

# How deep `detect_format` looks for Oulu-CASIA subject folders (e.g.
# root/OriginalImg/VL/Strong/P001): deep enough for the published tree, shallow
# enough not to walk a whole unrelated dataset.
_DETECT_DEPTH = 5


def canonical_expression(name: str) -> Optional[str]:
    """Maps an expression name, in any common spelling, onto its canonical name.

    Args:
        name: a label as a dataset or user writes it, e.g. "Happiness", " angry".

    Returns:
        The entry of `CANONICAL_EXPRESSIONS` it means, or None when it means none.
    """
    return _EXPRESSION_ALIASES.get(name.strip().lower())


def ordered_expression_names(names: Iterable[str]) -> List[str]:
    """Orders expression class names: canonical ones in canonical order, then others.

    Args:
        names: class names, possibly repeated.

    Returns:
        The distinct names, those in `CANONICAL_EXPRESSIONS` first in its order,
        then the rest sorted.
    """
    distinct = set(names)
    canonical = [name for name in CANONICAL_EXPRESSIONS if name in distinct]
    others = sorted(distinct.difference(CANONICAL_EXPRESSIONS))
    return canonical + others


def _natural_key(name: str) -> Tuple:
    # Numbered frames are not always zero-padded: "10.png" must follow "9.png".
    parts = re.split(r"(\d+)", name)
    return tuple(int(part) if part.isdigit() else part for part in parts)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _visible_entries(directory: str) -> List[str]:
    # Hidden files (.DS_Store, ._* from macOS archives) are never data.
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def _subdirectories(directory: str) -> List[str]:
    return [
        name
        for name in _visible_entries(directory)
        if os.path.isdir(os.path.join(directory, name))
    ]


def _image_files(directory: str) -> List[str]:
    names = [
        name
        for name in _visible_entries(directory)
        if _is_image(name) and os.path.isfile(os.path.join(directory, name))
    ]
    return sorted(names, key=_natural_key)


def _require_directory(root: str, layout: str) -> None:
    if not os.path.isdir(root):
        raise DataError(f"{root} is not a directory: pass the root folder of the {layout} dataset.")


def _build_records(
    sources: List,
    identity_labels: Sequence[Optional[str]],
    expression_labels: Sequence[Optional[str]],
    subjects: Sequence[str],
    dataset: str,
    location: str,
    expression_names: Optional[List[str]] = None,
) -> FaceRecords:
    """Turns per-sample label names into a `FaceRecords` with index labels.

    Args:
        sources: one path or image per sample.
        identity_labels: identity name per sample, None where absent.
        expression_labels: expression name per sample, None where absent.
        subjects: subject key per sample.
        dataset: the format name stored in the records.
        location: the file or folder read, named when nothing was found.
        expression_names: the dataset's fixed class list; None derives it from the
            labels found.

    Returns:
        The records; identity names are sorted.
    """
    if not sources:
        raise DataError(
            f"{location} holds no usable {dataset} samples: check that it follows the "
            f"{dataset} layout."
        )
    identity_names = sorted({name for name in identity_labels if name is not None})
    if expression_names is None:
        expression_names = ordered_expression_names(
            name for name in expression_labels if name is not None
        )
    identity_index = {name: i for i, name in enumerate(identity_names)}
    expression_index = {name: i for i, name in enumerate(expression_names)}
    return FaceRecords(
        sources=list(sources),
        identity=[MISSING_LABEL if n is None else identity_index[n] for n in identity_labels],
        expression=[
            MISSING_LABEL if n is None else expression_index[n] for n in expression_labels
        ],
        subject=list(subjects),
        identity_names=identity_names,
        expression_names=list(expression_names),
        dataset=dataset,
    )


def _read_ckplus_code(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read().strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{path} is not a CK+ emotion file: expected one number 0..7, found "
            f"{text[:40]!r}; restore it from the CK+ Emotion archive."
        ) from None
    if not value.is_integer() or not 0 <= value < len(_CKPLUS_CODES):
        raise DataError(
            f"{path} holds emotion code {text!r}, outside the CK+ codes 0..7; "
            f"restore it from the CK+ Emotion archive."
        )
    return int(value)


def read_ckplus(root: str, include_neutral: bool = False) -> FaceRecords:
    """Reads the original CK+ release: labelled sequences, last 3 frames each.

    Layout: root/cohn-kanade-images/S###/###/*.png with labels in
    root/Emotion/S###/###/*_emotion.txt (CK+ codes 0=neutral .. 7=surprise).
    Sequences with no emotion file are skipped.

    Args:
        root: the folder holding cohn-kanade-images/ and Emotion/.
        include_neutral: also take each labelled sequence's first frame as
            "neutral", and keep sequences labelled neutral. Without it the neutral
            class does not exist.

    Returns:
        FaceRecords with identity = subject = "S###".
    """
    _require_directory(root, "CK+")
    image_root = os.path.join(root, "cohn-kanade-images")
    emotion_root = os.path.join(root, "Emotion")
    for required in (image_root, emotion_root):
        if not os.path.isdir(required):
            raise DataError(
                f"{required} is missing: a CK+ root holds cohn-kanade-images/ and Emotion/ "
                f"(unpack both CK+ archives into {root})."
            )
    sources, expressions, subjects = [], [], []
    for subject in _subdirectories(emotion_root):
        for sequence in _subdirectories(os.path.join(emotion_root, subject)):
            label_dir = os.path.join(emotion_root, subject, sequence)
            label_files = [n for n in _visible_entries(label_dir) if n.endswith("_emotion.txt")]
            if not label_files:
                continue
            if len(label_files) > 1:
                raise DataError(
                    f"{label_dir} holds {len(label_files)} emotion files; a CK+ sequence "
                    f"has one: remove the extra files."
                )
            label_path = os.path.join(label_dir, label_files[0])
            expression = _CKPLUS_CODES[_read_ckplus_code(label_path)]
            if expression == "neutral" and not include_neutral:
                continue
            frame_dir = os.path.join(image_root, subject, sequence)
            frames = _image_files(frame_dir) if os.path.isdir(frame_dir) else []
            if not frames:
                raise DataError(
                    f"{label_path} labels a sequence with no images in {frame_dir}: "
                    f"restore that folder from the CK+ image archive."
                )
            apex = frames[-_APEX_FRAMES:]
            labelled = [(name, expression) for name in apex]
            if include_neutral and frames[0] not in apex:
                labelled.insert(0, (frames[0], "neutral"))
            for name, label in labelled:
                sources.append(os.path.join(frame_dir, name))
                expressions.append(label)
                subjects.append(subject)
    names = [n for n in CANONICAL_EXPRESSIONS if include_neutral or n != "neutral"]
    return _build_records(sources, subjects, expressions, subjects, "ckplus", root, names)


def _expression_folder(
    directory: str, folder: str, layout: str, classes: Sequence[str] = CANONICAL_EXPRESSIONS
) -> str:
    """Returns the canonical expression a folder names; DataError unless in `classes`."""
    expression = canonical_expression(folder)
    if expression not in classes:
        accepted = ", ".join(sorted(a for a, e in _EXPRESSION_ALIASES.items() if e in classes))
        raise DataError(
            f"{os.path.join(directory, folder)} is not an expression folder of the "
            f"{layout} layout: rename it to one of {accepted}, or move it out."
        )
    return expression


def read_ckplus48(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads the CK+48 crops: one folder per expression.

    Layout: root/<expression>/S{subject}_{sequence}_{frame}.png, e.g.
    root/happy/S010_004_00000017.png. Folder names may be any common spelling
    ("angry", "Sad", "happiness", ...).

    Args:
        root: the folder of expression folders.
        skip_bad: skip files whose names do not follow the pattern (a warning
            gives their count) instead of raising DataError.

    Returns:
        FaceRecords with identity = subject = "S###"; expression_names are the
        classes of the folders present.
    """
    _require_directory(root, "CK+48")
    sources, expressions, subjects, found = [], [], [], []
    skipped = 0
    for folder in _subdirectories(root):
        expression = _expression_folder(root, folder, "CK+48")
        found.append(expression)
        directory = os.path.join(root, folder)
        for name in sorted(_visible_entries(directory), key=_natural_key):
            match = _CKPLUS48_NAME.match(name)
            if match is None:
                if skip_bad:
                    skipped += 1
                    continue
                raise DataError(
                    f"{os.path.join(directory, name)} is not named like a CK+48 image "
                    f"(S010_004_00000017.png): rename or remove it, or pass skip_bad=True."
                )
            sources.append(os.path.join(directory, name))
            expressions.append(expression)
            subjects.append(match.group(1).upper())
    if skipped:
        _LOG.warning("Skipped %d files under %s not named like CK+48 images.", skipped, root)
    return _build_records(
        sources,
        subjects,
        expressions,
        subjects,
        "ckplus48",
        root,
        ordered_expression_names(found),
    )


def _oulu_subject_dirs(root: str, max_depth: Optional[int] = None) -> List[str]:
    """Finds P### folders under root, at most `max_depth` levels down (None: any)."""
    found = []
    for directory, children, _ in os.walk(root):
        relative = os.path.relpath(directory, root)
        depth = 0 if relative == os.curdir else relative.count(os.sep) + 1
        subject_children = [c for c in children if _OULU_SUBJECT_DIR.match(c)]
        found.extend(os.path.join(directory, c) for c in subject_children)
        # A subject folder holds expression folders, not further subjects.
        children[:] = sorted(
            c for c in children if not c.startswith(".") and c not in subject_children
        )
        if max_depth is not None and depth + 1 >= max_depth:
            children[:] = []
    return sorted(found)


def read_oulu_casia(root: str) -> FaceRecords:
    """Reads Oulu-CASIA: the last 3 frames of each subject's expression sequence.

    Layout: .../P###/<Expression>/*.jpeg, the P### folders possibly nested under
    lighting and imaging folders (e.g. VL/Strong/). A sequence is the files of one
    P###/<Expression> folder. The same P### under several lighting folders is the
    same person: point root at one image set (original or cropped), not both.

    Args:
        root: a folder holding P### folders at any depth.

    Returns:
        FaceRecords with identity = subject = "P###".
    """
    _require_directory(root, "Oulu-CASIA")
    sources, expressions, subjects = [], [], []
    for subject_dir in _oulu_subject_dirs(root):
        subject = os.path.basename(subject_dir)
        for folder in _subdirectories(subject_dir):
            expression = _expression_folder(
                subject_dir, folder, "Oulu-CASIA", _OULU_CASIA_EXPRESSIONS
            )
            frame_dir = os.path.join(subject_dir, folder)
            for name in _image_files(frame_dir)[-_APEX_FRAMES:]:
                sources.append(os.path.join(frame_dir, name))
                expressions.append(expression)
                subjects.append(subject)
    return _build_records(
        sources,
        subjects,
        expressions,
        subjects,
        "oulu_casia",
        root,
        list(_OULU_CASIA_EXPRESSIONS),
    )


def _header(row: Sequence[str]) -> List[str]:
    return [cell.strip() for cell in row]


def _parse_fer2013_row(row: List[str], path: str, line: int) -> Tuple[np.ndarray, int]:
    try:
        code = int(row[0])
        pixels = np.array(row[1].split(), dtype=np.int64)
    except ValueError:
        raise DataError(
            f"{path} line {line}: emotion and pixels must be integers; fix or delete "
            f"that line."
        ) from None
    if not 0 <= code < len(_FER2013_CODES):
        raise DataError(
            f"{path} line {line}: emotion code {code} is outside the FER2013 codes "
            f"0..6; fix or delete that line."
        )
    if pixels.size != _FER2013_SIDE * _FER2013_SIDE:
        raise DataError(
            f"{path} line {line}: expected {_FER2013_SIDE * _FER2013_SIDE} pixel values, "
            f"found {pixels.size}; fix or delete that line."
        )
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(
            f"{path} line {line}: pixel values must lie in 0..255, found "
            f"{pixels.min()}..{pixels.max()}; fix or delete that line."
        )
    image = pixels.astype(np.uint8).reshape(_FER2013_SIDE, _FER2013_SIDE)
    return image, code


def read_fer2013(csv_path: str, usage: Optional[str] = None) -> FaceRecords:
    """Reads the FER2013 CSV: 48x48 grayscale faces with an expression each.

    The CSV has the header emotion,pixels,Usage; FER codes 0=Angry, 1=Disgust,
    2=Fear, 3=Happy, 4=Sad, 5=Surprise, 6=Neutral map onto canonical names.
    FER2013 has no identities and no subject information, so every row is its own
    subject, "fer2013_<row>" with <row> counted from 0 over the whole file (the
    key does not change with `usage`).

    Args:
        csv_path: path of fer2013.csv.
        usage: keep only rows of this Usage: "Training", "PublicTest" or
            "PrivateTest"; None keeps all.

    Returns:
        FaceRecords whose sources are uint8 (48, 48) arrays and identities are -1.
    """
    if usage is not None and usage not in _FER2013_USAGES:
        raise DataError(
            f"usage={usage!r} is not a FER2013 Usage: use one of "
            f"{', '.join(_FER2013_USAGES)} (or None for all rows)."
        )
    if not os.path.isfile(csv_path):
        raise DataError(f"{csv_path} does not exist: pass the path of fer2013.csv.")
    sources, expressions, subjects = [], [], []
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = _header(next(reader, []))
        if header != _FER2013_HEADER:
            raise DataError(
                f"{csv_path} is not a FER2013 CSV: expected header emotion,pixels,Usage, "
                f"found {','.join(header)[:80]!r}."
            )
        for row_index, row in enumerate(reader):
            if not row:
                continue
            if len(row) != 3:
                raise DataError(
                    f"{csv_path} line {reader.line_num}: expected 3 fields "
                    f"(emotion,pixels,Usage), found {len(row)}; fix or delete that line."
                )
            if usage is not None and row[2].strip() != usage:
                continue
            image, code = _parse_fer2013_row(row, csv_path, reader.line_num)
            sources.append(image)
            expressions.append(_FER2013_CODES[code])
            subjects.append(f"fer2013_{row_index}")
    location = csv_path if usage is None else f"{csv_path} (Usage={usage})"
    return _build_records(
        sources,
        [None] * len(sources),
        expressions,
        subjects,
        "fer2013",
        location,
        ordered_expression_names(_FER2013_CODES),
    )


def read_lfw(root: str) -> FaceRecords:
    """Reads an LFW-style identity set: one folder of images per person.

    Layout: root/<Name>/<Name>_####.jpg. Files directly under root (pairs.txt,
    lfw-names.txt) are ignored. Expressions are absent.

    Args:
        root: the folder of person folders.

    Returns:
        FaceRecords with identity = subject = the folder name and expression -1.
    """
    _require_directory(root, "LFW")
    sources, identities = [], []
    for person in _subdirectories(root):
        person_dir = os.path.join(root, person)
        for name in sorted(_visible_entries(person_dir), key=_natural_key):
            path = os.path.join(person_dir, name)
            if os.path.isdir(path) or not _is_image(name):
                raise DataError(
                    f"{path} is not an image: an LFW-style root holds one folder of "
                    f"{'/'.join(IMAGE_EXTENSIONS)} images per person; move it out or "
                    f"point at the right folder."
                )
            sources.append(path)
            identities.append(person)
    return _build_records(
        sources,
        identities,
        [None] * len(sources),
        identities,
        "lfw",
        root,
        [],
    )


def _lfw_pair_counts(first_line: List[str], path: str) -> int:
    """Returns how many pair lines follow the pairs.txt header line."""
    if 1 <= len(first_line) <= 2 and all(_LFW_PAIR_INDEX.match(f) for f in first_line):
        counts = [int(f) for f in first_line]
        # "10 300": 10 folds of 300 matched and 300 mismatched pairs; "1100": 1100
        # matched then 1100 mismatched (pairsDevTrain.txt).
        return 2 * int(np.prod(counts))
    raise DataError(
        f"{path} line 1: expected the pair counts ('10<TAB>300' or '1100'), found "
        f"{' '.join(first_line)[:80]!r}; is this an LFW pairs file?"
    )


def read_lfw_pairs(pairs_path: str, root: str) -> List[Tuple[str, str, bool]]:
    """Reads an LFW pairs file (pairs.txt, pairsDevTest.txt, ...).

    Lines are "name i j" (same person) or "name1 i name2 j" (different people);
    image i of name is root/name/name_{i:04d}.jpg. Pairs keep the file's order, so
    with the header "10 300" fold f is pairs[600 * f : 600 * (f + 1)].

    Args:
        pairs_path: the pairs file.
        root: the LFW image root.

    Returns:
        A list of (path_a, path_b, is_same).
    """
    if not os.path.isfile(pairs_path):
        raise DataError(f"{pairs_path} does not exist: pass the path of LFW's pairs.txt.")
    with open(pairs_path, encoding="utf-8") as handle:
        lines = [line.split() for line in handle]
    if not lines:
        raise DataError(f"{pairs_path} is empty: pass the path of LFW's pairs.txt.")
    expected = _lfw_pair_counts(lines[0], pairs_path)

    def image_path(name: str, index: str, line: int) -> str:
        if not _LFW_PAIR_INDEX.match(index):
            raise DataError(
                f"{pairs_path} line {line}: image number {index!r} is not a positive "
                f"integer; fix that line."
            )
        path = os.path.join(root, name, f"{name}_{int(index):04d}.jpg")
        if not os.path.isfile(path):
            raise DataError(
                f"{pairs_path} line {line} names {path}, which does not exist: check "
                f"the LFW root."
            )
        return path

    pairs = []
    for line_number, fields in enumerate(lines[1:], start=2):
        if not fields:
            continue
        if len(fields) == 3:
            name, i, j = fields
            pairs.append((image_path(name, i, line_number), image_path(name, j, line_number), True))
        elif len(fields) == 4:
            name_a, i, name_b, j = fields
            pairs.append(
                (image_path(name_a, i, line_number), image_path(name_b, j, line_number), False)
            )
        else:
            raise DataError(
                f"{pairs_path} line {line_number}: expected 'name i j' or "
                f"'name1 i name2 j', found {' '.join(fields)[:80]!r}; fix that line."
            )
    if len(pairs) != expected:
        raise DataError(
            f"{pairs_path}: its first line announces {expected} pairs but it lists "
            f"{len(pairs)}; restore the file."
        )
    return pairs


def _manifest_columns(header: List[str], path: str) -> bool:
    """Checks a manifest header; returns whether it has the subject column."""
    if header == _MANIFEST_HEADER:
        return False
    if header == _MANIFEST_HEADER + [_MANIFEST_OPTIONAL_COLUMN]:
        return True
    raise DataError(
        f"{path} is not a manifest: expected header path,identity,expression[,subject], "
        f"found {','.join(header)[:80]!r}."
    )


def _manifest_expression(cell: str) -> Optional[str]:
    # A user's own class names ("smirk") are kept; known spellings join the
    # canonical space so that the manifest combines with the other datasets.
    if not cell:
        return None
    return canonical_expression(cell) or cell


def read_manifest(csv_path: str) -> FaceRecords:
    """Reads a generic CSV manifest of labelled images.

    Columns: path,identity,expression and optionally subject. Identity and
    expression are names; a blank cell means the label is absent. Relative paths
    resolve against the CSV's folder. Expression names that are a known spelling of
    a canonical expression are mapped onto it; other names are kept as written.

    Args:
        csv_path: the manifest CSV.

    Returns:
        FaceRecords; a row's subject defaults to its identity name, or to its image
        path when the identity is blank.
    """
    if not os.path.isfile(csv_path):
        raise DataError(f"{csv_path} does not exist: pass the path of the manifest CSV.")
    base = os.path.dirname(os.path.abspath(csv_path))
    sources, identities, expressions, subjects = [], [], [], []
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        has_subject = _manifest_columns(_header(next(reader, [])), csv_path)
        width = 4 if has_subject else 3
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if len(cells) != width:
                raise DataError(
                    f"{csv_path} line {reader.line_num}: expected {width} fields, found "
                    f"{len(cells)}; fix that line (quote paths that contain commas)."
                )
            path, identity, expression = cells[:3]
            if not path:
                raise DataError(
                    f"{csv_path} line {reader.line_num}: the path is blank; fill it in "
                    f"or delete that line."
                )
            path = os.path.normpath(os.path.join(base, path))
            if not os.path.isfile(path):
                raise DataError(
                    f"{csv_path} line {reader.line_num} names {path}, which does not "
                    f"exist: fix the path (relative paths start at the CSV's folder)."
                )
            subject = cells[3] if has_subject and cells[3] else (identity or path)
            sources.append(path)
            identities.append(identity or None)
            expressions.append(_manifest_expression(expression))
            subjects.append(subject)
    return _build_records(sources, identities, expressions, subjects, "manifest", csv_path)


def _source_tags(records_list: Sequence[FaceRecords]) -> List[str]:
    # Two sources of one format (two manifests, say) still need distinct prefixes.
    names = [records.dataset for records in records_list]
    tags = []
    for i, name in enumerate(names):
        tags.append(name if names.count(name) == 1 else f"{name}{names[: i + 1].count(name)}")
    return tags


def _remap(labels: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    present = labels != MISSING_LABEL
    remapped = np.full(labels.shape, MISSING_LABEL, dtype=np.int64)
    remapped[present] = mapping[labels[present]]
    return remapped


def combine(records_list: Sequence[FaceRecords]) -> FaceRecords:
    """Combines several datasets' records into one training set.

    Identity spaces are concatenated: people are never merged across sources, and
    an identity name found in two sources is written "<dataset>/<name>" in both.
    Expression classes are unified by name. Subject keys become
    "<dataset>/<subject>", so splits never merge subjects of two sources. A label
    a source lacks stays -1.

    Args:
        records_list: the records to combine, at least one.

    Returns:
        One FaceRecords whose dataset is the sources' names joined by "+".
    """
    if not records_list:
        raise DataError("combine() was given no records: pass at least one dataset.")
    tags = _source_tags(records_list)
    name_counts: Dict[str, int] = {}
    for records in records_list:
        for name in set(records.identity_names):
            name_counts[name] = name_counts.get(name, 0) + 1
    expression_names = ordered_expression_names(
        name for records in records_list for name in records.expression_names
    )
    expression_index = {name: i for i, name in enumerate(expression_names)}
    identity_names: List[str] = []
    sources, identity, expression, subject = [], [], [], []
    for tag, records in zip(tags, records_list):
        offset = len(identity_names)
        identity_names.extend(
            f"{tag}/{name}" if name_counts[name] > 1 else name for name in records.identity_names
        )
        identity_map = np.arange(len(records.identity_names), dtype=np.int64) + offset
        expression_map = np.array(
            [expression_index[name] for name in records.expression_names], dtype=np.int64
        )
        sources.extend(records.sources)
        identity.append(_remap(records.identity, identity_map))
        expression.append(_remap(records.expression, expression_map))
        subject.append(np.char.add(f"{tag}/", records.subject.astype(str)))
    return FaceRecords(
        sources=sources,
        identity=np.concatenate(identity),
        expression=np.concatenate(expression),
        subject=np.concatenate(subject),
        identity_names=identity_names,
        expression_names=expression_names,
        dataset="+".join(tags),
    )


def _csv_format(path: str) -> Optional[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = _header(next(csv.reader(handle), []))
    except UnicodeDecodeError:
        return None
    if header == _FER2013_HEADER:
        return "fer2013"
    if header[:3] == _MANIFEST_HEADER:
        return "manifest"
    return None


def _directory_format(root: str) -> Optional[str]:
    folders = _subdirectories(root)
    if "cohn-kanade-images" in folders and "Emotion" in folders:
        return "ckplus"
    if folders and all(canonical_expression(folder) for folder in folders):
        return "ckplus48"
    if _oulu_subject_dirs(root, max_depth=_DETECT_DEPTH):
        return "oulu_casia"
    if any(_image_files(os.path.join(root, folder)) for folder in folders):
        return "lfw"
    return None


def _require_path(path: str) -> None:
    if not os.path.exists(path):
        raise DataError(f"{path} does not exist: check the dataset path.")
    if os.path.isdir(path) and not _visible_entries(path):
        raise DataError(f"{path} is an empty directory: unpack the dataset into it.")


def detect_format(root_or_file: str) -> str:
    """Names the dataset layout of a folder or file.

    Args:
        root_or_file: a dataset root folder, or a CSV file.

    Returns:
        One of `FORMATS`.
    """
    _require_path(root_or_file)
    if os.path.isdir(root_or_file):
        found = _directory_format(root_or_file)
    elif root_or_file.lower().endswith(".csv"):
        found = _csv_format(root_or_file)
    else:
        found = None
    if found is None:
        raise DataError(
            f"{root_or_file} matches no supported dataset layout: supported are "
            f"{', '.join(FORMATS)} (see keras_dmtl.data.readers); pass --dataset to name "
            f"one, or write a manifest CSV (path,identity,expression)."
        )
    return found


READERS: Dict[str, Callable[..., FaceRecords]] = {
    "ckplus": read_ckplus,
    "ckplus48": read_ckplus48,
    "oulu_casia": read_oulu_casia,
    "fer2013": read_fer2013,
    "lfw": read_lfw,
    "manifest": read_manifest,
}
FORMATS = tuple(READERS)


def read_dataset(path: str, dataset: str = "auto", **kwargs) -> FaceRecords:
    """Reads a dataset with the reader for its format.

    Args:
        path: the dataset root folder or CSV file.
        dataset: a name in `FORMATS`, or "auto" to detect it.
        **kwargs: passed to the reader (e.g. include_neutral, skip_bad, usage).

    Returns:
        The reader's FaceRecords.
    """
    if dataset != "auto" and dataset not in READERS:
        raise DataError(
            f"--dataset={dataset} is not a known format: use auto or one of "
            f"{', '.join(FORMATS)}."
        )
    _require_path(path)
    if dataset == "auto":
        dataset = detect_format(path)
    return READERS[dataset](path, **kwargs)

"""The generic CSV manifest reader."""

import re

import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text


def write_manifest(path, rows, header="path,identity,expression"):
    """Writes a manifest CSV of `rows` (lines without newline); returns its path."""
    return write_text(path, "".join(f"{line}\n" for line in [header, *rows]))


def write_layout(directory, bad_entry=False):
    """Three people with relative paths; the bad entry names a missing image."""
    rows = []
    for name, expression in (("ann", "happy"), ("bob", ""), ("cy", "smirk")):
        write_image(directory / "img" / f"{name}.png")
        rows.append(f"img/{name}.png,{name},{expression}")
    if bad_entry:
        rows.insert(1, "img/missing.png,dee,sad")
    return write_manifest(directory / "faces.csv", rows), 3


def test_manifest_names_blanks_and_relative_paths(tmp_path):
    for name in ("a.png", "b.png", "c.png", "d.png"):
        write_image(tmp_path / "img" / name)
    path = write_manifest(tmp_path / "m.csv", [
        "img/a.png,carol,Happiness",
        "img/b.png,alice,",
        f"{tmp_path / 'img' / 'c.png'},,smirk",
        "img/d.png,carol,sad",
    ])
    records = readers.read_manifest(path)
    assert records.dataset == "manifest"
    assert records.sources == [
        str(tmp_path / "img" / name) for name in ("a.png", "b.png", "c.png", "d.png")]
    assert records.identity_names == ["alice", "carol"]
    assert label_names(records.identity_names, records.identity) == [
        "carol", "alice", None, "carol"]
    assert records.expression_names == ["happy", "sadness", "smirk"]
    assert label_names(records.expression_names, records.expression) == [
        "happy", None, "smirk", "sadness"]
    assert records.subject.tolist() == ["carol", "alice", str(tmp_path / "img" / "c.png"), "carol"]


def test_manifest_subject_column(tmp_path):
    write_image(tmp_path / "a.png")
    path = write_manifest(tmp_path / "m.csv", ["a.png,carol,,s7", "a.png,carol,,"],
                          header="path,identity,expression,subject")
    assert readers.read_manifest(path).subject.tolist() == ["s7", "carol"]


@pytest.mark.parametrize("body, message", [
    ("file,label\na.png,x\n", "m.csv is not a manifest"),
    ("path,identity,expression\nmissing.png,x,\n", "m.csv line 2 names .*missing.png"),
    ("path,identity,expression\na.png,x\n", "m.csv line 2: expected 3 fields"),
    ("path,identity,expression\n,x,\n", "m.csv line 2: the path is blank"),
])
def test_manifest_malformed_is_named(tmp_path, body, message):
    write_image(tmp_path / "a.png")
    path = write_text(tmp_path / "m.csv", body)
    with pytest.raises(DataError, match=message):
        readers.read_manifest(path)


def test_manifest_action_units_column_with_and_without_subject(tmp_path):
    write_image(tmp_path / "a.png")
    path = write_manifest(tmp_path / "m.csv", [
        "a.png,ann,happy,s1,6+12", "a.png,ann,,s1,AU1 + au02+AU14", "a.png,bob,sad,s2,",
        "a.png,bob,,s2,0", "a.png,cy,,s3,none"],
        header="path,identity,expression,subject,action_units")
    records = readers.read_manifest(path)
    assert records.subject.tolist() == ["s1", "s1", "s2", "s2", "s3"]
    # The 17 default AUs and AU14, which a row names.
    assert len(records.action_unit_names) == 18
    assert records.action_unit_names[:5] == ["AU1", "AU2", "AU4", "AU5", "AU6"]
    active = [[records.action_unit_names[i] for i in np.flatnonzero(row == 1)]
              for row in records.action_units]
    assert active == [["AU6", "AU12"], ["AU1", "AU2", "AU14"], [], [], []]
    assert (records.action_units[2] == -1).all()  # blank: not annotated
    assert not records.action_units[[0, 1, 3, 4]].min() < 0  # annotated: the rest absent
    without_subject = readers.read_manifest(write_manifest(
        tmp_path / "n.csv", ["a.png,ann,happy,12"], header="path,identity,expression,action_units"))
    assert without_subject.subject.tolist() == ["ann"]
    assert len(without_subject.action_unit_names) == 17  # AU12 is a default one
    assert readers.read_manifest(write_manifest(
        tmp_path / "o.csv", ["a.png,ann,happy"])).action_units.shape == (1, 0)


@pytest.mark.parametrize("cell", ["12C", "smile", "1++2", "3"])
def test_manifest_bad_action_units_cell_is_named_or_its_row_skipped(tmp_path, cell):
    write_image(tmp_path / "a.png")
    path = write_manifest(tmp_path / "m.csv", [f"a.png,ann,happy,{cell}", "a.png,bob,,1+2"],
                          header="path,identity,expression,action_units")
    with pytest.raises(DataError, match=re.escape(f"m.csv line 2: the action_units cell '{cell}'")):
        readers.read_manifest(path)
    assert readers.read_manifest(path, skip_bad=True).identity_names == ["bob"]


def test_manifest_action_units_before_subject_is_not_a_manifest(tmp_path):
    path = write_manifest(tmp_path / "m.csv", [],
                          header="path,identity,expression,action_units,subject")
    with pytest.raises(DataError, match="expected header path,identity,expression\\[,subject\\]"
                                        "\\[,action_units\\]"):
        readers.read_manifest(path)

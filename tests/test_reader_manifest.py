"""The generic CSV manifest reader."""

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

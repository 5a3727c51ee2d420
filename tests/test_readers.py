"""The reader registry: the contract every registered format meets, and dispatch.

The contract tests run on every registered format, with the `write_layout` of its
tests/test_reader_<name>.py (see tests/reader_helpers.py); a format without one
fails here. A throwaway format module shows that a new file is picked up with no
other edit.
"""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.readers import registry
from keras_dmtl.data.records import DataError
from keras_dmtl.data.sources import parse_sources
from keras_dmtl.data.splits import split_by_subject
from tests.reader_helpers import layout_writer
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text
from tests.test_reader_fer2013 import write_layout as write_fer2013_layout

# --- the contract every format meets ------------------------------------------------


def check_detected_and_read(name, write_layout, directory):
    """The layout is detected as `name`, and read with subjects that splits can keep apart."""
    path, count = write_layout(directory)
    assert readers.detect_format(path) == name
    records = readers.read_dataset(path)
    assert records.dataset == name
    assert len(records) == count
    named = readers.read_dataset(path, dataset=name)
    assert [str(s) for s in named.sources] == [str(s) for s in records.sources]
    parts = split_by_subject(records.subject, (0.4, 0.3, 0.3), seed=0)
    subjects = [set(records.subject[indices]) for indices in parts]
    assert all(subjects), "each split needs a subject: write at least three"
    assert not (subjects[0] & subjects[1] or subjects[0] & subjects[2] or subjects[1] & subjects[2])
    assert sum(len(indices) for indices in parts) == count


def check_bad_entry_named_or_skipped(write_layout, directory, caplog):
    """A bad entry stops the read with a hint to skip it; skip_bad skips it with a warning."""
    path, count = write_layout(directory, bad_entry=True)
    with pytest.raises(DataError, match="set --config.skip_bad_images=True"):
        readers.read_dataset(path)
    with caplog.at_level(logging.WARNING, logger=readers.__name__):
        records = readers.read_dataset(path, skip_bad=True)
    assert len(records) == count
    assert "Skipped 1 bad" in caplog.text


def test_every_registered_format_has_a_layout_writer():
    for name in readers.available():
        assert callable(layout_writer(name))


def test_a_format_without_a_test_module_fails_the_suite():
    with pytest.raises(pytest.fail.Exception, match="'untested' is registered but "
                                                    "tests.test_reader_untested does not"):
        layout_writer("untested")


@pytest.mark.parametrize("name", readers.available())
def test_each_format_is_detected_and_read(name, tmp_path):
    check_detected_and_read(name, layout_writer(name), tmp_path)


@pytest.mark.parametrize("name", readers.available())
def test_each_format_names_or_skips_a_bad_entry(name, tmp_path, caplog):
    check_bad_entry_named_or_skipped(layout_writer(name), tmp_path, caplog)


# --- a new format is one new module ------------------------------------------------

_THROWAWAY_MODULE = '''
"""A throwaway format: a folder marked THROWAWAY, images named <person>_<n>.png."""

import os

from keras_dmtl.data.readers import register
from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import image_files
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import SIGNATURE


def _is_throwaway_root(root):
    return os.path.isfile(os.path.join(root, "THROWAWAY"))


@register("throwaway", takes=FOLDER, matches=_is_throwaway_root, specificity=SIGNATURE)
def read_throwaway(root, skip_bad=False):
    bad = BadEntries(skip_bad, root, "files")
    sources, people = [], []
    for name in image_files(root):
        if "_" not in name:
            bad.reject(f"{name} is not named <person>_<n>.png: rename it.")
            continue
        sources.append(os.path.join(root, name))
        people.append(name.split("_")[0])
    bad.warn_if_skipped()
    return build_records(sources, people, [None] * len(sources), people, "throwaway", root, [])
'''


def _write_throwaway_layout(directory, bad_entry=False):
    write_text(directory / "THROWAWAY", "")
    for person in ("ann", "bob", "cy"):
        write_image(directory / f"{person}_1.png")
    if bad_entry:
        write_image(directory / "nobody.png")
    return str(directory), 3


@pytest.fixture
def throwaway_format(tmp_path, monkeypatch):
    """Puts a format module in a folder of the package's search path, and takes it out after.

    The registry is a copy for the test, so the format is unregistered afterwards.
    """
    plugin_dir = tmp_path / "plugin"
    write_text(plugin_dir / "throwaway.py", textwrap.dedent(_THROWAWAY_MODULE))
    monkeypatch.setattr(readers, "__path__", [*readers.__path__, str(plugin_dir)])
    monkeypatch.setattr(registry.FORMATS, "_entries", dict(registry.FORMATS._entries))
    yield "throwaway"
    sys.modules.pop(f"{readers.__name__}.throwaway", None)
    if hasattr(readers, "throwaway"):
        delattr(readers, "throwaway")


def test_a_new_format_module_is_detected_and_read_with_no_other_edit(
        throwaway_format, tmp_path, caplog):
    assert throwaway_format in readers.available()
    check_detected_and_read(throwaway_format, _write_throwaway_layout, tmp_path / "good")
    check_bad_entry_named_or_skipped(_write_throwaway_layout, tmp_path / "bad", caplog)


# --- detection and dispatch --------------------------------------------------------


def _register_folder_format(name, matches, specificity):
    readers.register(name, takes=registry.FOLDER, matches=matches,
                     specificity=specificity)(lambda root, skip_bad=False: None)


def test_detection_takes_the_most_specific_match_and_refuses_a_tie(tmp_path, monkeypatch):
    monkeypatch.setattr(registry.FORMATS, "_entries", dict(registry.FORMATS._entries))
    path, _ = layout_writer("ckplus48")(tmp_path)
    _register_folder_format("anything_fallback", lambda root: True, registry.FALLBACK)
    assert readers.detect_format(path) == "ckplus48"
    _register_folder_format("anything_pattern", lambda root: True, registry.PATTERN)
    with pytest.raises(DataError, match=r"equally well \(anything_pattern, ckplus48\): "
                                        r"set --config.dataset"):
        readers.detect_format(path)


def test_registering_a_name_twice_or_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="'lfw' is already registered"):
        readers.register("lfw", takes=registry.FOLDER, matches=bool,
                         specificity=registry.FALLBACK)(readers.read_lfw)
    with pytest.raises(ValueError, match="takes='url'"):
        readers.register("web", takes="url", matches=bool, specificity=registry.FALLBACK)


def test_detect_format_unknown_layout_lists_formats(tmp_path):
    write_text(tmp_path / "docs" / "readme.txt", "x")
    with pytest.raises(DataError, match=r"docs matches no supported .*ckplus48.*manifest"):
        readers.detect_format(str(tmp_path / "docs"))
    binary = tmp_path / "blob.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DataError, match="blob.csv matches no supported"):
        readers.detect_format(str(binary))


def test_read_dataset_passes_options_and_checks_name_and_path(tmp_path):
    fer, count = write_fer2013_layout(tmp_path)
    assert len(readers.read_dataset(fer, dataset="fer2013", usage="PublicTest")) == 1
    assert len(readers.read_dataset(fer, usage="Training")) == count - 1
    with pytest.raises(DataError, match="--config.dataset=affectnet is not a known format: use "
                                        "auto or one of .*oulu_casia"):
        readers.read_dataset(fer, dataset="affectnet")
    with pytest.raises(DataError, match="nowhere does not exist"):
        readers.read_dataset(str(tmp_path / "nowhere"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DataError, match="empty is an empty directory"):
        readers.read_dataset(str(tmp_path / "empty"), dataset="lfw")
    with pytest.raises(DataError, match="is not a directory: pass the root folder of the CK"):
        readers.read_dataset(fer, dataset="ckplus48")


def test_reader_options_may_follow_the_format_name(tmp_path):
    fer, _ = write_fer2013_layout(tmp_path)
    assert readers.parse_format("lfw_expressions:part=imfdb") == ("lfw_expressions",
                                                                  {"part": "imfdb"})
    assert readers.parse_format("ckplus:include_neutral=true:apex=3") == (
        "ckplus", {"include_neutral": True, "apex": 3})
    assert len(readers.read_dataset(fer, dataset="fer2013:usage=PublicTest")) == 1
    with pytest.raises(DataError, match="has no option part; its options are: usage"):
        readers.read_dataset(fer, dataset="fer2013:part=imfdb")
    with pytest.raises(DataError, match="write a reader option as fer2013:<option>=<value>"):
        readers.read_dataset(fer, dataset="fer2013:PublicTest")


def test_one_folder_is_two_sources_when_their_options_differ():
    sources = parse_sources("/f/lfw_expr,/f/lfw_expr",
                            "lfw_expressions:part=lfw,lfw_expressions:part=imfdb")
    assert [source.dataset for source in sources] == ["lfw_expressions:part=lfw",
                                                      "lfw_expressions:part=imfdb"]
    with pytest.raises(ValueError, match="names a source twice"):
        parse_sources("/f/a,/f/a", "lfw")


def test_expression_aliases_map_onto_canonical_names():
    assert readers.canonical_expression(" Happiness ") == "happy"
    assert readers.canonical_expression("ANGRY") == "anger"
    assert readers.canonical_expression("smirk") is None
    assert readers.ordered_expression_names(["smirk", "surprise", "anger", "anger"]) == [
        "anger", "surprise", "smirk"]


def test_readers_import_without_tensorflow():
    # Tools that never train (data checks, the device runtime) read datasets too.
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
            "from keras_dmtl.data import readers; print(','.join(readers.available()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.stdout.strip() == ",".join(readers.available())

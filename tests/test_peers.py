"""The peers' table: every peer scored on the same photos and pairs, our export
through the unlock's path, the figures equal to a direct computation."""

import numpy as np
import pytest

from keras_dmtl.benchmarks.peers import compare
from keras_dmtl.benchmarks.peers import registry
from keras_dmtl.benchmarks.peers.base import Peer
from keras_dmtl.benchmarks.peers.base import PeerOutput
from keras_dmtl.data.faces.loading import decode_image
from keras_dmtl.data.faces.detection import FaceDetector as Detector
from keras_dmtl.data.faces.detection import make_detector
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.evaluation import verification
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.export.transfer import embed_records
from keras_dmtl.export.transfer import transfer_report

SUBJECTS = np.array(["a", "a", "b", "b", "c", "c"])
EXPRESSIONS = np.array([0, 1, 0, 2, -1, 1])
NAMES = ["happy", "sadness", "contempt"]


class Oracle(Peer):
    """Knows every person (one-hot per subject) and every expression but contempt."""

    name = "oracle"
    expression_labels = ("happy", "sadness")
    threshold = 0.5

    def analyse(self, image):
        index = int(image[image.shape[0] // 2, image.shape[1] // 2, 0])
        vector = np.eye(3)[ord(SUBJECTS[index]) - ord("a")]
        expression = EXPRESSIONS[index] if EXPRESSIONS[index] in (0, 1) else 0
        return PeerOutput(embedding=vector, expression=np.eye(2)[expression])


class Blind(Peer):
    """Finds no face in photo 1; confuses a with b."""

    name = "blind"
    threshold = 0.99

    def analyse(self, image):
        index = int(image[image.shape[0] // 2, image.shape[1] // 2, 0])
        if index == 1:
            return PeerOutput()
        return PeerOutput(embedding=np.eye(2)[0 if SUBJECTS[index] in "ab" else 1])


def photos():
    return [np.full((8, 8, 3), i, np.uint8) for i in range(len(SUBJECTS))]


def test_peers_are_scored_on_the_same_pairs_and_labelled_faces():
    runs = [compare.run_peer(peer, photos(), frames=2) for peer in (Oracle(), Blind())]
    oracle, blind = compare.compare(runs, SUBJECTS, EXPRESSIONS, NAMES)
    # Photo 1 has no face for Blind: both are scored without it (5 photos, 10 pairs,
    # 2 genuine).
    assert oracle["faces_compared"] == blind["faces_compared"] == 5
    assert oracle["genuine_pairs"] == blind["genuine_pairs"] == 2
    assert oracle["auc"] == 1.0 and oracle["far_at_default"] == 0.0
    assert oracle["tar_at_default"] == 1.0
    # Blind accepts a-b pairs: impostors a0-b2, a0-b3 of the 8 impostor pairs.
    assert blind["far_at_default"] == pytest.approx(2 / 8)
    assert blind["tar_at_default"] == 1.0
    # Expression: labelled photos 0, 1, 2, 3, 5; contempt (photo 3) is not the
    # oracle's class, so 4 faces, all right.
    assert oracle["expression_images"] == 4 and oracle["expression_accuracy"] == 1.0
    assert "expression_accuracy" not in blind
    assert oracle["ms_per_frame"] is not None and oracle["ms_per_photo"] >= 0


def test_every_peer_is_also_read_at_the_reference_peers_tar():
    runs = [compare.run_peer(peer, photos(), frames=0) for peer in (Oracle(), Blind())]
    oracle, blind = compare.compare(runs, SUBJECTS, EXPRESSIONS, NAMES, reference="blind")
    # Blind's default accepts every genuine pair and 2 of 8 impostors; the oracle,
    # at that TAR, none.
    assert blind["far_at_reference_tar"] == pytest.approx(2 / 8)
    assert oracle["far_at_reference_tar"] == 0.0
    rows = compare.compare(runs, SUBJECTS, EXPRESSIONS, NAMES, reference="absent")
    assert all("far_at_reference_tar" not in row for row in rows)


def test_far_at_tar_is_read_at_the_strictest_threshold_reaching_it():
    scores = np.array([0.9, 0.8, 0.7, 0.85, 0.75, 0.1])
    is_same = np.array([True, True, True, False, False, False])
    assert verification.far_at_tar(scores, is_same, 1 / 3) == 0.0  # threshold 0.9
    assert verification.far_at_tar(scores, is_same, 2 / 3) == pytest.approx(1 / 3)  # 0.8
    assert verification.far_at_tar(scores, is_same, 1.0) == pytest.approx(2 / 3)  # 0.7
    assert verification.far_at_tar(scores, is_same, 0.0) == 0.0


def test_a_set_of_one_photo_per_person_is_scored_on_expression_alone():
    runs = [compare.run_peer(Oracle(), photos(), frames=0)]
    (row,) = compare.compare(runs, np.arange(len(SUBJECTS)), EXPRESSIONS, NAMES)
    assert "auc" not in row and "faces_compared" not in row
    assert row["expression_images"] == 4


class Table(Peer):
    """Each photo's embedding from a table (photo i: a frame filled with i)."""

    name = "table"

    def __init__(self, vectors, threshold=0.9, name="table"):
        self.vectors = [np.asarray(v, float) / np.linalg.norm(v) for v in vectors]
        self.threshold = threshold
        self.name = name

    def analyse(self, image):
        return PeerOutput(embedding=self.vectors[int(image[0, 0, 0])])


def test_the_unlock_figures_enroll_neutral_photos_first_and_follow_the_enrollment_rule():
    near_a = [1.0, 0.1, 0.0]
    vectors = [[0.6, 0.8, 0], [1, 0, 0], [1, 0, 0], near_a, near_a,  # a: 0 is happy, far
               [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0], [0, 1, 0],  # b: 7 is not b
               [1, 0, 0], [0, 0, 1], [0, 0, 1]]  # c: three photos, too few to enroll
    subjects = np.array(list("aaaaabbbbbccc"))
    expressions = np.array([1, 0, 0, 0, 1] + [1] * 8)  # 0: neutral
    images = [np.full((4, 4, 3), i, np.uint8) for i in range(len(subjects))]
    (row,) = compare.compare([compare.run_peer(Table(vectors), images, frames=0)],
                             subjects, expressions, ["neutral", "happy"])
    # a enrolls from its neutral photos 1-3 (not photo 0, first in order) and is
    # then tried with 0 (rejected) and 4 (accepted); b's first three photos
    # include 7, which rejects 5 and 6: b cannot enroll.
    assert row["unlock_people"] == 2 and row["unlock_enrolled"] == 0.5
    assert row["unlock_genuine"] == 2 and row["unlock_tar"] == 0.5
    # a's template against b's 5 photos and c's 3: c's photo 10 looks like a.
    assert row["unlock_impostor"] == 8 and row["unlock_far"] == pytest.approx(1 / 8)
    # Without neutral labels, a enrolls from photos 0-2, which reject each other.
    (unlabelled,) = compare.compare([compare.run_peer(Table(vectors), images, frames=0)],
                                    subjects, np.full(len(subjects), -1), ["neutral"])
    assert unlabelled["unlock_enrolled"] == 0.0 and "unlock_tar" not in unlabelled
    # A peer with no default decision has no unlock figures.
    (undecided,) = compare.compare(
        [compare.run_peer(Table(vectors, threshold=None), images, frames=0)],
        subjects, expressions, ["neutral", "happy"])
    assert "auc" in undecided and "unlock_people" not in undecided


def test_unlock_attempts_are_also_read_at_the_reference_peers_unlock_tar():
    # Two people, photos 0-2 and 4-6 alike (enrolled), 3 and 7 the attempts.
    subjects = np.array(list("ppppqqqq"))
    loose = [[1, 0]] * 3 + [[0.8, 0.6]] + [[0, 1]] * 3 + [[0.6, 0.8]]
    worse = loose[:7] + [[0.9, 0.436]]  # q's attempt looks more like p than like q
    images = [np.full((4, 4, 3), i, np.uint8) for i in range(len(subjects))]
    runs = [compare.run_peer(Table(vectors, 0.5, name), images, frames=0)
            for vectors, name in ((loose, "loose"), (worse, "worse"))]
    loose_row, worse_row = compare.compare(runs, subjects, np.full(8, -1), [],
                                           reference="loose")
    # The loose peer accepts both genuine attempts (0.8) and the two at 0.6.
    assert loose_row["unlock_tar"] == 1.0 and loose_row["unlock_far"] == pytest.approx(2 / 8)
    # At TAR 1, the loose peer's strictest threshold is 0.8 (no impostor); the
    # worse one must go down to q's 0.436, which lets 3 (0.6) and 7 (0.9) in.
    assert loose_row["unlock_far_at_reference_tar"] == 0.0
    assert worse_row["unlock_far_at_reference_tar"] == pytest.approx(2 / 8)


def test_a_template_is_the_normalised_mean_and_keeps_the_raw_mean():
    outputs = [PeerOutput(embedding=np.array([1.0, 0.0]), raw=np.array([2.0, 0.0])),
               PeerOutput(embedding=np.array([0.0, 1.0]), raw=np.array([0.0, 4.0]))]
    template = Table([[1, 0]]).template(outputs)
    np.testing.assert_allclose(template.embedding, [2 ** -0.5, 2 ** -0.5])
    np.testing.assert_allclose(template.raw, [1.0, 2.0])
    assert Table([[1, 0]]).template([PeerOutput(embedding=np.array([1.0, 0.0]))]).raw is None


def test_the_table_keeps_its_columns_apart():
    rows = [{"peer": "ours tflite_int8", "auc": 0.99, "ms_per_photo": 4.5},
            {"peer": "fer", "expression_accuracy": 0.6, "ms_per_photo": 0.408,
             "ms_per_frame": 19.96}]
    table = compare.format_table(rows, "title").splitlines()
    header = table[2].split("|")
    assert [cell.strip() for cell in header][1:3] == ["peer", "faces"]
    assert all(line.count("|") == table[2].count("|") for line in table[2:])
    assert "| ours tflite_int8 | - | 0.9900 |" in table[4]
    assert table[5].endswith("| 0.6000 | - | 0.4 | 20.0 |")


def test_the_registry_names_the_libraries_and_our_exports():
    assert {"export", "face_recognition", "fer"} <= set(registry.available())


def test_our_export_as_a_peer_searches_the_image_the_unlock_searches(exported, tmp_path,
                                                                     monkeypatch):
    from keras_dmtl.edge import runtime  # noqa: PLC0415

    searched = []

    class Recording(Detector):
        def detect(self, image_rgb, min_face=None):
            searched.append((image_rgb.shape[:2], min_face))
            return []

    monkeypatch.setattr(runtime, "make_detector", lambda spec: Recording())
    frame = np.zeros((480, 640, 3), np.uint8)
    export_dir = exported[0]
    assert registry.lookup("export")(export_dir, "tflite_int8", "haar").analyse(frame) \
        == PeerOutput()
    unlock = runtime.FaceUnlock(export_dir, str(tmp_path / "store"),
                                key_file=str(tmp_path / "key" / "k"))
    with pytest.raises(runtime.NoFaceError, match="--min_face_fraction"):
        unlock.analyse(frame)
    # Both shrink the 640x480 frame to the unlock's 320 px before searching it, for faces
    # of at least 0.15 of its shorter side (36 of 240 pixels).
    assert searched == [((240, 320), pytest.approx(36))] * 2
    registry.lookup("export")(export_dir, "tflite_int8", "haar", max_detect_side=0,
                              min_face_fraction=0.0).analyse(frame)
    assert searched[-1] == ((480, 640), None)


def test_our_export_as_a_peer_gives_the_transfer_reports_figures(exported):
    export_dir, records, _ = exported
    records = records.subset(range(0, len(records), 3))
    peer = registry.lookup("export")(export_dir, "tflite_int8", "none")
    images = [decode_image(source) for source in records.sources]
    (row,) = compare.compare([compare.run_peer(peer, images, frames=1)], records.subject,
                             records.expression, records.expression_names)
    manifest = load_manifest(export_dir, "tflite_int8")
    found, embeddings, probabilities = embed_records(
        LiteRTFaceModel(manifest["file"]), records, make_detector("none"), manifest["height"],
        manifest["channels"], manifest["face_margin"], manifest["expression_labels"])
    direct = transfer_report(embeddings, records.subject[found], manifest["threshold"],
                             probabilities, records.expression[found], records.expression_names,
                             manifest["expression_labels"])
    assert row["faces_compared"] == direct["faces"] == len(records)
    assert row["auc"] == pytest.approx(direct["auc"], abs=1e-9)
    assert row["far_at_default"] == pytest.approx(direct["far_at_threshold"], abs=1e-9)
    assert row["tar_at_default"] == pytest.approx(direct["tar_at_threshold"], abs=1e-9)
    assert row["expression_accuracy"] == pytest.approx(direct["expression"]["accuracy"])

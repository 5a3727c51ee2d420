"""Golden vectors that hold the Android app's JVM core to the Python runtime.

Every expected value is computed by the code the Python runtime runs (alignment and
preprocessing, template averaging, the attempt decision and the attempt policy,
attempts of several faces under the per-attempt cap, the enrollment rules and the
check of an export against an enrollment, int8 quantisation, the manifest), and
`android_demo/unlock-core`'s tests must reproduce each one:

    python -m keras_dmtl.edge.golden_vectors   # rewrites the file below

`tests/test_golden_vectors.py` recomputes the vectors, checks that the committed
file holds them (to a tolerance for floats, whose last bits differ between
platforms), and runs the JVM tests on the committed file; it never rewrites it.
"""

import argparse
import json
import os

import numpy as np

from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.faces.alignment import align_face
from keras_dmtl.data.faces.alignment import crop_box
from keras_dmtl.data.faces.alignment import preprocess_crop
from keras_dmtl.data.faces.alignment import reference_landmarks
from keras_dmtl.data.faces.alignment import similarity_transform
from keras_dmtl.data.records import EMOTION_EXPRESSIONS
from keras_dmtl.edge.decision import MAX_FACES_PER_ATTEMPT
from keras_dmtl.edge.decision import AttemptSession
from keras_dmtl.edge.decision import cosine_similarity
from keras_dmtl.edge.decision import verify_attempt
from keras_dmtl.edge.enrollment import MIN_ENROLL_IMAGES
from keras_dmtl.edge.enrollment import EnrollmentError
from keras_dmtl.edge.enrollment import export_mismatch
from keras_dmtl.edge.enrollment import new_entry
from keras_dmtl.edge.enrollment import weakest_pair
from keras_dmtl.edge.litert_model import quantize
from keras_dmtl.edge.manifest import input_spec
from keras_dmtl.edge.manifest import parse_manifest
from keras_dmtl.edge.policy import AttemptPolicy
from keras_dmtl.edge.policy import lockout_seconds
from keras_dmtl.edge.policy import new_state
from keras_dmtl.edge.templates import average_template
from keras_dmtl.io_utils import atomic_path

GOLDEN_PATH = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "android_demo",
                           "unlock-core", "src", "test", "resources", "golden_vectors.json")

_EXPRESSIONS = list(EMOTION_EXPRESSIONS)


def _camera_frame(rng, height, width):
    """A smooth random RGB frame: neighbouring pixels differ, as in a photo."""
    import cv2  # noqa: PLC0415 (OpenCV is only needed to blur the noise)

    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def _landmarks_in_frame(rng, face_side, centre, angle):
    """Template landmarks of a `face_side` face, rotated by `angle` and moved."""
    points = reference_landmarks(face_side) - face_side / 2.0
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T + centre + rng.normal(0, 0.7, (5, 2))


def _manifest():
    return {
        "keras_dmtl_version": "golden",
        "input": input_spec(24, 1),
        "expression_labels": _EXPRESSIONS,
        "embedding_size": 8,
        "target_far": 2e-5,
        "formats": {
            "tflite_int8": {"file": "dmtl_int8.tflite", "bytes": 1290000, "sha256": "ab" * 32,
                            "threshold": 0.7810143102926518, "calibrated_far": 3.87e-4},
            "tflite_float32": {"file": "dmtl_float32.tflite", "bytes": 4110000,
                               "sha256": "cd" * 32, "threshold": 0.8007659371732635,
                               "calibrated_far": 3.87e-4},
        },
    }


def _preprocessing_cases(rng):
    cases = []
    for index, (size, channels) in enumerate(((24, 1), (20, 3), (24, 3), (16, 1))):
        height, width = 40 + 3 * index, 52 - 2 * index
        frame = _camera_frame(rng, height, width)
        landmarks = _landmarks_in_frame(rng, rng.uniform(22, 34),
                                        np.array([width / 2.0, height / 2.0]) + rng.normal(0, 3, 2),
                                        rng.uniform(-0.3, 0.3))
        target = reference_landmarks(size, FACE_MARGIN)
        aligned = preprocess_crop(align_face(frame, landmarks, size, FACE_MARGIN), size, channels)
        box = [float(rng.uniform(2, 10)), float(rng.uniform(2, 10)),
               float(rng.uniform(18, 30)), float(rng.uniform(18, 30))]
        boxed = preprocess_crop(crop_box(frame, box, size, FACE_MARGIN), size, channels)
        cases.append({
            "width": width, "height": height, "rgb": frame.reshape(-1).tolist(),
            "size": size, "channels": channels, "margin": FACE_MARGIN,
            "landmarks": landmarks.tolist(),
            "similarity_transform": similarity_transform(landmarks, target).tolist(),
            "aligned_input": aligned.reshape(-1).tolist(),
            "box": box, "box_input": boxed.reshape(-1).tolist(),
        })
    return cases


def _template_cases(rng):
    cases = []
    for count in (1, 3, 5):
        embeddings = rng.normal(0, 1, (count, 8)) * rng.uniform(0.5, 20)
        probe = rng.normal(0, 1, 8)
        template = average_template(embeddings)
        cases.append({"embeddings": embeddings.tolist(), "template": template.tolist(),
                      "probe": probe.tolist(),
                      "similarity": cosine_similarity(probe, template)})
    return cases


def _faces(rng, template):
    """Face embeddings drawn around a template: the owner's, and a stranger's."""
    owner = lambda: template + rng.normal(0, 0.15, 8)  # noqa: E731

    def stranger():
        # Another identity: a direction far from the template (cosine within +-0.37).
        vector = rng.normal(0, 1, 8)
        vector -= (vector @ template) * template
        return vector + rng.uniform(-0.4, 0.4) * np.linalg.norm(vector) * template
    return owner, stranger


def _attempt_sequences(rng):
    """Attempts (time, user, face or none, expression, challenge) and what each gets."""
    enrolled = rng.normal(0, 1, (4, 8))
    template = average_template(enrolled)
    owner, stranger = _faces(rng, template)

    # Each step: (time, face, expression, challenge) for "owner", or with a user name last.
    scripts = {
        # Five strangers lock the user out for 30 s; attempts in the lockout are refused
        # unseen; each later failure doubles the lockout; the owner's success resets it.
        "lockout_and_backoff": [(0, stranger, "happy", None), (1, stranger, "anger", None),
                                (2, stranger, "fear", None), (3, stranger, "happy", None),
                                (4, stranger, "happy", None), (10, owner, "happy", None),
                                (33.9, owner, "happy", None), (34, stranger, "sadness", None),
                                (60, owner, "happy", None), (94, stranger, "happy", None),
                                (213.9, owner, "happy", None), (214, owner, "happy", None),
                                (215, stranger, "happy", None)],
        # No face is neither a success nor a failure; a success resets the count.
        "no_face_and_reset": [(0, stranger, "happy", None), (1, None, None, None),
                              (2, stranger, "happy", None), (3, None, None, None),
                              (4, owner, "surprise", None), (5, stranger, "happy", None),
                              (6, stranger, "happy", None), (7, stranger, "happy", None),
                              (8, stranger, "happy", None), (9, owner, "happy", None)],
        # "Smile to unlock": the owner without the smile is a failure.
        "challenge": [(0, owner, "anger", "happy"), (1, owner, "happy", "happy"),
                      (2, stranger, "happy", "happy"), (3, owner, "neutral", "happy"),
                      (4, owner, "happy", "happy")],
        # A stranger retrying as soon as each lockout ends: the lockout stops growing at
        # 15 minutes, and the 20th failure disables the template until re-enrollment.
        "cap_and_reenroll": _retry_each_lockout(stranger, 20) + [
            (30000, owner, "happy", None), (40000, None, None, None)],
        # The clock set back before the lockout began: still locked, for the full
        # lockout again from the new time.
        "clock_backwards": [(1000, stranger, "happy", None), (1001, stranger, "happy", None),
                            (1002, stranger, "happy", None), (1003, stranger, "happy", None),
                            (1004, stranger, "happy", None), (500, owner, "happy", None),
                            (520, owner, "happy", None), (529.9, owner, "happy", None),
                            (530, owner, "happy", None)],
        # Failures count device-wide too: five user names, one failure each, lock out
        # every user; a success resets the device's count.
        "device_budget": [(0, stranger, "happy", None, "ana"), (1, stranger, "happy", None, "bo"),
                          (2, stranger, "happy", None, "cy"), (3, stranger, "happy", None, "di"),
                          (4, stranger, "happy", None, "ed"), (5, owner, "happy", None),
                          (20, owner, "happy", None, "fay"), (34, owner, "happy", None),
                          (35, stranger, "happy", None, "ana")],
    }
    threshold = 0.6

    def step(policy, time, face, expression, challenge, *user):
        user = user[0] if user else "owner"
        embedding = None if face is None else face()
        result = verify_attempt(policy, user, template, embedding, expression, threshold,
                                challenge)
        return {"time": time, "user": user,
                "embedding": None if embedding is None else embedding.tolist(),
                "expression": expression, "challenge": challenge, "expected": result}

    return [{"name": name, "threshold": threshold, "template": template.tolist(), "steps": steps}
            for name, steps in _replayed(scripts, step).items()]


def _replayed(scripts, step):
    """Each script's steps replayed on a fresh policy whose clock reads each step's
    time: {name: [step(policy, time, *rest) for (time, *rest) in script]}."""
    replayed = {}
    for name, script in scripts.items():
        now = [0.0]
        policy = AttemptPolicy(new_state(), clock=lambda: now[0])
        steps = []
        for time, *rest in script:
            now[0] = float(time)
            steps.append(step(policy, now[0], *rest))
        replayed[name] = steps
    return replayed


def _retry_each_lockout(stranger, failures):
    """`failures` stranger attempts, each the moment the previous lockout has ended."""
    script, time = [], 0.0
    for count in range(1, failures + 1):
        script.append((time, stranger, "happy", None))
        time += lockout_seconds(count) + 1.0
    return script


def _session_sequences(rng):
    """Attempts of several faces each, at most `MAX_FACES_PER_ATTEMPT` compared, and what
    each gets (its result and how many faces it compared)."""
    template = average_template(rng.normal(0, 1, (4, 8)))
    owner, stranger = _faces(rng, template)
    # Each step: (time, [(face, expression), ...], challenge); [] is an attempt without a face.
    scripts = {
        # The owner's face after the cap is never compared: the attempt fails.
        "owner_past_the_cap": [(0, [(stranger, "happy")] * MAX_FACES_PER_ATTEMPT
                                + [(owner, "happy")], None),
                               (1, [(owner, "happy")], None)],
        # Accepted at the third face: the faces after it are not compared.
        "accept_ends_the_attempt": [(0, [(stranger, "fear"), (stranger, "happy"),
                                         (owner, "happy"), (stranger, "happy")], None)],
        # Five faces, one failure: five such attempts lock the user out.
        "one_failure_per_attempt": [(t, [(stranger, "happy")] * MAX_FACES_PER_ATTEMPT, None)
                                    for t in range(5)] + [(5, [(owner, "happy")], None),
                                                          (40, [(owner, "happy")], None)],
        # No face compared: not an attempt.
        "no_face": [(0, [], None), (1, [(stranger, "happy")], None), (2, [], None)],
        # "Smile to unlock" over several faces: only a face with the smile is accepted.
        "challenge": [(0, [(owner, "anger"), (owner, "neutral"), (owner, "happy")], "happy"),
                      (1, [(owner, "anger")] * MAX_FACES_PER_ATTEMPT + [(owner, "happy")],
                       "happy")],
    }
    threshold = 0.6

    def step(policy, time, faces, challenge):
        faces = [(face().tolist(), expression) for face, expression in faces]
        session = AttemptSession(template, threshold, challenge)
        # As the runtime: a locked-out user's faces are not even run through the model.
        locked = policy.reenroll_required("owner") or policy.locked_for("owner") > 0
        for embedding, expression in [] if locked else faces:
            if not session.open:
                break
            session.offer(np.asarray(embedding), expression)
        result = session.decide(policy, "owner")
        return {"time": time, "user": "owner", "challenge": challenge,
                "faces": [{"embedding": embedding, "expression": expression}
                          for embedding, expression in faces],
                "expected": dict(result, compared=session.compared)}

    return [{"name": name, "threshold": threshold, "max_faces": MAX_FACES_PER_ATTEMPT,
             "template": template.tolist(), "steps": steps}
            for name, steps in _replayed(scripts, step).items()]


def _enrollment_cases(rng):
    """Enrollment embeddings and floors, and the entry made or why it is refused."""
    first, second = rng.normal(0, 1, 8), rng.normal(0, 1, 8)
    second -= (second @ first) / (first @ first) * first  # another person: orthogonal

    def person(base, count):
        return [(base / np.linalg.norm(base) + rng.normal(0, 0.1, 8)) * rng.uniform(0.5, 20)
                for _ in range(count)]

    alike = person(first, 3)
    weakest = weakest_pair(alike)[2]
    cases = {"one_person": (person(first, 4), 0.6),
             "too_few": (person(first, MIN_ENROLL_IMAGES - 1), 0.6),
             "two_people": (person(first, 2) + person(second, 2), 0.6),
             "a_stranger_among_three": (person(first, 3) + person(second, 1), 0.6),
             # The weakest pair decides: just over the floor passes, just under fails
             # (1e-9 apart: the two runtimes' sums differ in their last bits).
             "floor_just_under_the_weakest_pair": (alike, weakest - 1e-9),
             "floor_just_over_the_weakest_pair": (alike, weakest + 1e-9)}
    labels, digest = list(_EXPRESSIONS), "ab" * 32
    result = []
    for name, (embeddings, floor) in cases.items():
        names = [f"image {index + 1}" for index in range(len(embeddings))]
        try:
            expected = {"accepted": True,
                        "entry": new_entry(embeddings, names, digest, floor, False, labels)}
        except EnrollmentError:
            expected = {"accepted": False, "reason": "count"}
            if len(embeddings) >= MIN_ENROLL_IMAGES:
                i, j, similarity = weakest_pair(embeddings)
                expected = {"accepted": False, "reason": "pair", "pair": [i, j],
                            "similarity": similarity}
        result.append({"name": name, "embeddings": [e.tolist() for e in embeddings],
                       "floor": floor, "model_sha256": digest, "threshold_backed": False,
                       "expression_labels": labels, "expected": expected})
    return result


def _export_checks(rng):
    """An enrolled entry against exports that differ from it, and what is found."""
    labels, digest = list(_EXPRESSIONS), "ab" * 32
    entry = new_entry(list(rng.normal(0, 1, (3, 8)) * 0.01 + 1.0), ["1", "2", "3"], digest,
                      0.78, True, labels)
    before_the_record = {key: entry[key] for key in ("template", "images", "model_sha256")}
    swapped = [labels[1], labels[0]] + labels[2:]
    exports = {"the_same": (entry, digest, 0.78, labels),
               "stricter_threshold": (entry, digest, 0.8, labels),
               "looser_threshold": (entry, digest, 0.7799, labels),
               "another_model": (entry, "cd" * 32, 0.78, labels),
               "another_model_and_looser": (entry, "cd" * 32, 0.5, labels),
               "swapped_labels": (entry, digest, 0.78, swapped),
               "a_label_less": (entry, digest, 0.78, labels[:-1]),
               "enrolled_before_the_record": (before_the_record, digest, 0.78, labels)}
    return [{"name": name, "entry": checked, "model_sha256": model, "threshold": threshold,
             "expression_labels": export_labels,
             "expected": export_mismatch(checked, model, threshold, export_labels)}
            for name, (checked, model, threshold, export_labels) in exports.items()]


def _quantization_cases(rng):
    values = np.concatenate([rng.uniform(-10, 300, 40), [0.0, 255.0, 127.5, 0.5, 1.5, -0.5]])
    cases = []
    for scale, zero_point, dtype in ((1.0, -128, np.int8), (0.5, 0, np.int8),
                                     (255 / 254, -1, np.int8), (1.0, 0, np.uint8)):
        cases.append({"values": values.tolist(), "scale": scale, "zero_point": zero_point,
                      "unsigned": dtype == np.uint8,
                      "expected": quantize(values, scale, zero_point, dtype).tolist()})
    return cases


def build_golden_vectors(seed=0):
    """All the vectors, as a JSON-ready dict (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    manifest = _manifest()
    # What the Python runtime reads from the manifest, and the template it aligns onto.
    read = parse_manifest(manifest, "tflite_int8")
    return {
        "about": "Written by `python -m keras_dmtl.edge.golden_vectors`; read by "
                 "android_demo/unlock-core's tests. Do not edit by hand.",
        "manifest": {"json": json.dumps(manifest, indent=2),
                     "expected": {"height": read["height"], "width": read["height"],
                                  "channels": read["channels"],
                                  "face_margin": read["face_margin"],
                                  "landmark_template": reference_landmarks(
                                      1.0, read["face_margin"]).tolist(),
                                  "expression_labels": read["expression_labels"],
                                  "embedding_size": manifest["embedding_size"],
                                  "tflite_int8_threshold": read["threshold"],
                                  "tflite_int8_file": read["file"]}},
        "preprocessing": _preprocessing_cases(rng),
        "templates": _template_cases(rng),
        "attempts": _attempt_sequences(rng),
        "quantization": _quantization_cases(rng),
        "sessions": _session_sequences(rng),
        "enrollments": _enrollment_cases(rng),
        "export_checks": _export_checks(rng),
    }


def write_golden_vectors(path=GOLDEN_PATH, seed=0):
    """Writes the vectors to `path` (atomically); returns the dict."""
    vectors = build_golden_vectors(seed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "w") as stream:
        json.dump(vectors, stream, separators=(",", ":"))
        stream.write("\n")
    return vectors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.normpath(GOLDEN_PATH), help="Output JSON.")
    args = parser.parse_args()
    write_golden_vectors(args.out)
    print(args.out)


if __name__ == "__main__":
    main()

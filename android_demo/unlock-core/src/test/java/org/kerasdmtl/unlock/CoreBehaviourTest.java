package org.kerasdmtl.unlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** What the golden vectors do not cover: persistence, errors and the enrollment gate. */
class CoreBehaviourTest {

  @Test
  void anAttemptEndedByAnErrorStillCountsItsComparedFace() {
    AttemptPolicy policy = new AttemptPolicy(() -> 0.0);
    double[] template = {1, 0, 0, 0};
    assertThrows(IllegalStateException.class, () -> {
      try (AttemptSession session = new AttemptSession(policy, "ana", template, 0.5, null)) {
        session.offer(new double[] {0, 1, 0, 0}, "happy");
        throw new IllegalStateException("the camera stopped");
      }
    });
    assertEquals(1, policy.failures("ana"));
    AttemptSession decided = new AttemptSession(policy, "ana", template, 0.5, null);
    decided.decide();
    decided.close();  // decided once: closing does not count it again
    assertThrows(IllegalStateException.class, decided::decide);
    assertEquals(1, policy.failures("ana"));
  }

  @Test
  void aFaceOverTheCapIsNeverCompared() {
    AttemptPolicy policy = new AttemptPolicy(() -> 0.0);
    double[] template = {1, 0, 0, 0};
    AttemptSession session = new AttemptSession(policy, "ana", template, 0.5, null);
    while (session.isOpen()) {
      session.offer(new double[] {0, 1, 0, 0}, "happy");
    }
    assertThrows(IllegalStateException.class, () -> session.offer(template, "happy"));
    assertEquals(UnlockDecision.REJECT, session.decide().decision);
    assertEquals(AttemptSession.MAX_FACES_PER_ATTEMPT * AttemptPolicy.FAILURES_BEFORE_REENROLL,
        AttemptSession.COMPARISONS_PER_TEMPLATE);
  }

  @Test
  void manifestLabelsMustBeDistinctAndNameTheModelsClasses() {
    String json = "{\"input\": {\"height\": 24, \"width\": 24, \"channels\": 1, "
        + "\"face_margin\": 0.2, \"landmark_template\": [[0,0],[1,0],[0,1],[1,1],[0.5,0.5]]}, "
        + "\"expression_labels\": LABELS, \"embedding_size\": 8, \"target_far\": 0.001, "
        + "\"formats\": {}}";
    IllegalArgumentException repeated = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse(json.replace("LABELS", "[\"happy\", \"happy\"]")));
    assertTrue(repeated.getMessage().contains("distinct"), repeated.getMessage());
    Manifest one = Manifest.parse(json.replace("LABELS", "[\"happy\"]"));
    IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
        () -> one.checkLabelCount(7));
    assertTrue(count.getMessage().contains("1 expression label(s)"), count.getMessage());
  }

  @Test
  void anEnrollmentRoundTripsThroughItsStoreEntry() {
    List<double[]> faces = List.of(new double[] {1, 0.1, 0}, new double[] {1, 0, 0.1},
        new double[] {1, -0.1, 0});
    Enrollment enrolled = Enrollment.create(faces, "ab".repeat(32), 0.9, true, List.of("happy", "sad"));
    Enrollment read = Enrollment.fromJson(enrolled.toJson());
    assertNull(read.exportMismatch("ab".repeat(32), 0.95, List.of("happy", "sad")));
    assertEquals(Enrollment.THRESHOLD, read.exportMismatch("ab".repeat(32), 0.5, List.of("happy", "sad")));
    Enrollment.RefusedException tooFew = assertThrows(Enrollment.RefusedException.class,
        () -> Enrollment.create(faces.subList(0, 2), "ab".repeat(32), 0.9, true, List.of("happy")));
    assertTrue(tooFew.getMessage().contains("at least 3"), tooFew.getMessage());
  }

  @Test
  void lockoutSurvivesARestartThroughThePersistedState() {
    double[] now = {100.0};
    AttemptPolicy policy = new AttemptPolicy(() -> now[0]);
    for (int i = 0; i < AttemptPolicy.FAILURES_BEFORE_LOCKOUT; i++) {
      policy.record("ana", false);
    }
    AttemptPolicy restarted = new AttemptPolicy(() -> now[0]);
    restarted.restore(policy.toJson());
    now[0] = 110.0;
    assertEquals(20.0, restarted.lockedFor("ana"), 1e-9);
    assertTrue(!UnlockDecision.mayAttempt(restarted, "ana"));
    // The device-wide count came back too: another user is locked out as well.
    assertTrue(!UnlockDecision.mayAttempt(restarted, "bob"));
    now[0] = 130.0;
    assertTrue(UnlockDecision.mayAttempt(restarted, "ana"));
    assertEquals(AttemptPolicy.FAILURES_BEFORE_LOCKOUT, restarted.failures("ana"));
  }

  @Test
  void malformedSavedStateIsRefusedNotReset() {
    AttemptPolicy policy = new AttemptPolicy(() -> 0.0);
    policy.restore(AttemptPolicy.EMPTY_STATE);
    for (String broken : new String[] {"", "[]", "{\"users\": {}}",
        "{\"device\": {\"failures\": -1, \"locked_from\": 0, \"lockout_seconds\": 0}, \"users\": {}}"}) {
      IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
          () -> policy.restore(broken));
      assertTrue(error.getMessage().contains("clear every lockout"), error.getMessage());
    }
  }

  @Test
  void reenrollmentClearsADisabledTemplate() {
    double[] now = {0.0};
    AttemptPolicy policy = new AttemptPolicy(() -> now[0]);
    for (int i = 0; i < AttemptPolicy.FAILURES_BEFORE_REENROLL; i++) {
      now[0] += 1000.0;
      policy.record("ana", false);
    }
    now[0] += 1000.0;
    assertTrue(policy.reenrollRequired("ana"));
    assertTrue(!UnlockDecision.mayAttempt(policy, "ana"));
    policy.forget("ana");
    assertTrue(UnlockDecision.mayAttempt(policy, "ana"));
  }

  @Test
  void manifestThresholdsOutsideTheCosineRangeAreRefused() {
    for (String threshold : new String[] {"-1", "1.5", "-3"}) {
      String json = "{\"input\": {\"height\": 24, \"width\": 24, \"channels\": 1, "
          + "\"face_margin\": 0.2, \"landmark_template\": [[0,0],[1,0],[0,1],[1,1],[0.5,0.5]]}, "
          + "\"expression_labels\": [\"happy\"], \"embedding_size\": 8, \"target_far\": 0.001, "
          + "\"formats\": {\"tflite_int8\": {\"file\": \"m.tflite\", \"sha256\": \""
          + "ab".repeat(32) + "\", \"threshold\": " + threshold + ", \"calibrated_far\": 0.001}}}";
      Manifest manifest = Manifest.parse(json);
      IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
          () -> manifest.format("tflite_int8"));
      assertTrue(error.getMessage().contains("threshold"), error.getMessage());
    }
  }

  @Test
  void manifestErrorsNameTheKeyAndTheFix() {
    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse("{\"input\": {\"height\": 112}}"));
    assertTrue(missing.getMessage().contains("\"width\""), missing.getMessage());
    IllegalArgumentException broken = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse("not json ["));
    assertTrue(broken.getMessage().contains("export_model.py"), broken.getMessage());
  }

  @Test
  void mismatchedEmbeddingSizeIsAClearError() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> Templates.cosine(new double[4], new double[8]));
    assertTrue(error.getMessage().contains("enroll again"), error.getMessage());
  }

  @Test
  void qualityGateRefusesSmallOffCentreAndBlurredFaces() {
    int size = 32;
    float[] sharp = new float[size * size];
    Random random = new Random(0);
    for (int i = 0; i < sharp.length; i++) {
      sharp[i] = random.nextInt(256);
    }
    float[] flat = new float[size * size];
    java.util.Arrays.fill(flat, 128f);
    QualityGate gate = QualityGate.defaults();
    assertNull(gate.problem(new double[] {120, 200, 240, 240}, 480, 640, sharp, size, 1));
    assertEquals("move closer", gate.problem(new double[] {200, 280, 60, 60}, 480, 640, sharp, size, 1));
    assertEquals("centre your face", gate.problem(new double[] {0, 0, 240, 240}, 480, 640, sharp, size, 1));
    assertEquals("hold still", gate.problem(new double[] {120, 200, 240, 240}, 480, 640, flat, size, 1));
  }
}

package org.kerasdmtl.unlock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** What the golden vectors do not cover: persistence, errors and the enrollment gate. */
class CoreBehaviourTest {

  @Test
  void lockoutSurvivesARestartThroughThePersistedState() {
    double[] now = {100.0};
    AttemptPolicy policy = new AttemptPolicy(() -> now[0]);
    for (int i = 0; i < AttemptPolicy.MAX_FAILURES; i++) {
      policy.record("ana", false);
    }
    AttemptPolicy restarted = new AttemptPolicy(() -> now[0]);
    restarted.restore(policy.toJson());
    now[0] = 110.0;
    assertEquals(20.0, restarted.lockedFor("ana"), 1e-9);
    assertTrue(!UnlockDecision.mayAttempt(restarted, "ana"));
    now[0] = 130.0;
    assertTrue(UnlockDecision.mayAttempt(restarted, "ana"));
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

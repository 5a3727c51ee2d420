package org.kerasdmtl.unlock;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reproduces every value of {@code golden_vectors.json}, written by the Python runtime's code
 * ({@code python -m keras_dmtl.edge.golden_vectors}). Pixels and decisions must match exactly;
 * real numbers to 1e-9 (summation order differs from NumPy's).
 *
 * <p>The file is read from the system property {@code golden.vectors} when set, else from the
 * test classpath.
 */
class GoldenVectorsTest {
  private static final double TOLERANCE = 1e-9;
  private static JsonObject golden;
  private static Manifest manifest;

  @BeforeAll
  static void load() throws IOException {
    String override = System.getProperty("golden.vectors");
    String text;
    if (override != null) {
      text = new String(Files.readAllBytes(Paths.get(override)), StandardCharsets.UTF_8);
    } else {
      try (InputStream stream = GoldenVectorsTest.class.getResourceAsStream("/golden_vectors.json")) {
        assertNotNull(stream, "golden_vectors.json is not on the test classpath: run "
            + "python -m keras_dmtl.edge.golden_vectors");
        text = new String(stream.readAllBytes(), StandardCharsets.UTF_8);
      }
    }
    golden = JsonParser.parseString(text).getAsJsonObject();
    manifest = Manifest.parse(golden.getAsJsonObject("manifest").get("json").getAsString());
  }

  @Test
  void manifestIsReadAsPythonWroteIt() {
    JsonObject expected = golden.getAsJsonObject("manifest").getAsJsonObject("expected");
    assertEquals(expected.get("height").getAsInt(), manifest.height);
    assertEquals(expected.get("width").getAsInt(), manifest.width);
    assertEquals(expected.get("channels").getAsInt(), manifest.channels);
    assertEquals(expected.get("face_margin").getAsDouble(), manifest.faceMargin, 0.0);
    assertEquals(expected.get("embedding_size").getAsInt(), manifest.embeddingSize);
    assertEquals(strings(expected.getAsJsonArray("expression_labels")), manifest.expressionLabels);
    JsonArray template = expected.getAsJsonArray("landmark_template");
    for (int i = 0; i < 5; i++) {
      assertArrayEquals(doubles(template.get(i).getAsJsonArray()), manifest.landmarkTemplate[i], 0.0);
    }
    Manifest.ModelFormat int8 = manifest.format("tflite_int8");
    assertEquals(expected.get("tflite_int8_threshold").getAsDouble(), int8.threshold, 0.0);
    assertEquals(expected.get("tflite_int8_file").getAsString(), int8.file);
  }

  @Test
  void similarityTransformMatchesUmeyama() {
    int index = 0;
    for (JsonElement element : golden.getAsJsonArray("preprocessing")) {
      JsonObject item = element.getAsJsonObject();
      double[][] target = manifest.referenceLandmarks(item.get("size").getAsInt());
      double[] matrix = FaceAlignment.similarityTransform(matrix(item.getAsJsonArray("landmarks")), target);
      double[][] expected = matrix(item.getAsJsonArray("similarity_transform"));
      double[] flat = {expected[0][0], expected[0][1], expected[0][2],
          expected[1][0], expected[1][1], expected[1][2]};
      assertArrayEquals(flat, matrix, TOLERANCE, "preprocessing case " + index);
      index++;
    }
  }

  @Test
  void alignedAndBoxCropsMatchTrainingPixelForPixel() {
    int index = 0;
    for (JsonElement element : golden.getAsJsonArray("preprocessing")) {
      JsonObject item = element.getAsJsonObject();
      int width = item.get("width").getAsInt(), height = item.get("height").getAsInt();
      int size = item.get("size").getAsInt(), channels = item.get("channels").getAsInt();
      RgbImage frame = new RgbImage(width, height, bytes(item.getAsJsonArray("rgb")));

      double[] aligned = FaceAlignment.similarityTransform(
          matrix(item.getAsJsonArray("landmarks")), manifest.referenceLandmarks(size));
      float[] alignedInput = FaceAlignment.modelInput(FaceAlignment.warpAffine(frame, aligned, size), channels);
      assertArrayEquals(floats(item.getAsJsonArray("aligned_input")), alignedInput,
          "aligned crop, case " + index);

      double[] box = FaceAlignment.cropBoxTransform(doubles(item.getAsJsonArray("box")), size,
          item.get("margin").getAsDouble());
      float[] boxInput = FaceAlignment.modelInput(FaceAlignment.warpAffine(frame, box, size), channels);
      assertArrayEquals(floats(item.getAsJsonArray("box_input")), boxInput, "box crop, case " + index);
      index++;
    }
  }

  @Test
  void templatesAverageAndCompareAsInPython() {
    int index = 0;
    for (JsonElement element : golden.getAsJsonArray("templates")) {
      JsonObject item = element.getAsJsonObject();
      List<double[]> embeddings = new ArrayList<>();
      for (JsonElement row : item.getAsJsonArray("embeddings")) {
        embeddings.add(doubles(row.getAsJsonArray()));
      }
      double[] template = Templates.average(embeddings);
      assertArrayEquals(doubles(item.getAsJsonArray("template")), template, TOLERANCE, "template " + index);
      assertEquals(item.get("similarity").getAsDouble(),
          Templates.cosine(doubles(item.getAsJsonArray("probe")), template), TOLERANCE, "similarity " + index);
      index++;
    }
  }

  @Test
  void attemptSequencesGiveTheSameDecisionsAndLockouts() {
    for (JsonElement element : golden.getAsJsonArray("attempts")) {
      JsonObject sequence = element.getAsJsonObject();
      String name = sequence.get("name").getAsString();
      double[] template = doubles(sequence.getAsJsonArray("template"));
      double threshold = sequence.get("threshold").getAsDouble();
      double[] now = {0.0};
      AttemptPolicy policy = new AttemptPolicy(() -> now[0]);
      int index = 0;
      for (JsonElement stepElement : sequence.getAsJsonArray("steps")) {
        JsonObject step = stepElement.getAsJsonObject();
        now[0] = step.get("time").getAsDouble();
        double[] embedding = step.get("embedding").isJsonNull() ? null : doubles(step.getAsJsonArray("embedding"));
        UnlockDecision result = UnlockDecision.verify(policy, step.get("user").getAsString(), template, embedding,
            nullableString(step, "expression"), threshold, nullableString(step, "challenge"));
        assertDecision(step.getAsJsonObject("expected"), result, name + " step " + index);
        index++;
      }
    }
  }

  @Test
  void attemptSessionsCompareAtMostTheCapAndCountOnce() {
    for (JsonElement element : golden.getAsJsonArray("sessions")) {
      JsonObject sequence = element.getAsJsonObject();
      String name = sequence.get("name").getAsString();
      assertEquals(sequence.get("max_faces").getAsInt(), AttemptSession.MAX_FACES_PER_ATTEMPT, name);
      double[] template = doubles(sequence.getAsJsonArray("template"));
      double threshold = sequence.get("threshold").getAsDouble();
      double[] now = {0.0};
      AttemptPolicy policy = new AttemptPolicy(() -> now[0]);
      int index = 0;
      for (JsonElement stepElement : sequence.getAsJsonArray("steps")) {
        JsonObject step = stepElement.getAsJsonObject();
        now[0] = step.get("time").getAsDouble();
        String user = step.get("user").getAsString();
        AttemptSession session = new AttemptSession(policy, user, template, threshold,
            nullableString(step, "challenge"));
        // As the app: a locked-out user's faces are not even run through the model.
        if (UnlockDecision.mayAttempt(policy, user)) {
          for (JsonElement faceElement : step.getAsJsonArray("faces")) {
            if (!session.isOpen()) {
              break;
            }
            JsonObject face = faceElement.getAsJsonObject();
            session.offer(doubles(face.getAsJsonArray("embedding")), face.get("expression").getAsString());
          }
        }
        UnlockDecision result = session.decide();
        JsonObject expected = step.getAsJsonObject("expected");
        String where = name + " step " + index;
        assertEquals(expected.get("compared").getAsInt(), session.compared(), where);
        assertDecision(expected, result, where);
        index++;
      }
    }
  }

  @Test
  void enrollmentsNeedThreeFacesOfOnePerson() {
    for (JsonElement element : golden.getAsJsonArray("enrollments")) {
      JsonObject item = element.getAsJsonObject();
      String name = item.get("name").getAsString();
      List<double[]> embeddings = new ArrayList<>();
      for (JsonElement row : item.getAsJsonArray("embeddings")) {
        embeddings.add(doubles(row.getAsJsonArray()));
      }
      JsonObject expected = item.getAsJsonObject("expected");
      Enrollment enrollment = null;
      Enrollment.RefusedException refused = null;
      try {
        enrollment = Enrollment.create(embeddings, item.get("model_sha256").getAsString(),
            item.get("floor").getAsDouble(), item.get("threshold_backed").getAsBoolean(),
            strings(item.getAsJsonArray("expression_labels")));
      } catch (Enrollment.RefusedException e) {
        refused = e;
      }
      assertEquals(expected.get("accepted").getAsBoolean(), enrollment != null, name);
      if (enrollment != null) {
        JsonObject entry = expected.getAsJsonObject("entry");
        JsonObject made = enrollment.toJson();
        assertEquals(entry.keySet(), made.keySet(), name);
        assertArrayEquals(doubles(entry.getAsJsonArray("template")), enrollment.template, TOLERANCE, name);
        for (String key : new String[] {"images", "model_sha256", "threshold", "threshold_backed",
            "expression_labels"}) {
          assertEquals(entry.get(key), made.get(key), name + " " + key);
        }
      } else if (expected.get("reason").getAsString().equals("pair")) {
        assertArrayEquals(ints(expected.getAsJsonArray("pair")), refused.pair, name);
        assertEquals(expected.get("similarity").getAsDouble(), refused.similarity, TOLERANCE, name);
      } else {
        assertEquals("count", expected.get("reason").getAsString(), name);
        assertEquals(null, refused.pair, name);
      }
    }
  }

  @Test
  void exportsAreCheckedAgainstTheEnrollmentAsInPython() {
    for (JsonElement element : golden.getAsJsonArray("export_checks")) {
      JsonObject item = element.getAsJsonObject();
      Enrollment enrolled = Enrollment.fromJson(item.getAsJsonObject("entry"));
      String problem = enrolled.exportMismatch(item.get("model_sha256").getAsString(),
          item.get("threshold").getAsDouble(), strings(item.getAsJsonArray("expression_labels")));
      assertEquals(nullableString(item, "expected"), problem, item.get("name").getAsString());
    }
  }

  @Test
  void int8QuantisationRoundsHalfToEvenAndSaturates() {
    int index = 0;
    for (JsonElement element : golden.getAsJsonArray("quantization")) {
      JsonObject item = element.getAsJsonObject();
      float scale = item.get("scale").getAsFloat();
      int zeroPoint = item.get("zero_point").getAsInt();
      boolean unsigned = item.get("unsigned").getAsBoolean();
      JsonArray values = item.getAsJsonArray("values"), expected = item.getAsJsonArray("expected");
      for (int i = 0; i < values.size(); i++) {
        assertEquals(expected.get(i).getAsInt(),
            FaceAlignment.quantize(values.get(i).getAsFloat(), scale, zeroPoint, unsigned),
            "quantization case " + index + " value " + values.get(i));
      }
      index++;
    }
  }

  private static String nullableString(JsonObject object, String key) {
    JsonElement value = object.get(key);
    return value == null || value.isJsonNull() ? null : value.getAsString();
  }

  private static List<String> strings(JsonArray array) {
    List<String> values = new ArrayList<>();
    array.forEach(value -> values.add(value.getAsString()));
    return values;
  }

  private static double[] doubles(JsonArray array) {
    double[] values = new double[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = array.get(i).getAsDouble();
    }
    return values;
  }

  private static int[] ints(JsonArray array) {
    int[] values = new int[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = array.get(i).getAsInt();
    }
    return values;
  }

  private static float[] floats(JsonArray array) {
    float[] values = new float[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = array.get(i).getAsFloat();
    }
    return values;
  }

  private static byte[] bytes(JsonArray array) {
    byte[] values = new byte[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = (byte) array.get(i).getAsInt();
    }
    return values;
  }

  private static double[][] matrix(JsonArray rows) {
    double[][] values = new double[rows.size()][];
    for (int i = 0; i < values.length; i++) {
      values[i] = doubles(rows.get(i).getAsJsonArray());
    }
    return values;
  }

  /** The decision, lockout and re-enrollment flag of `result` as Python wrote them. */
  private static void assertDecision(JsonObject expected, UnlockDecision result, String where) {
    assertEquals(expected.get("decision").getAsString(), result.decision, where);
    assertEquals(expected.get("lockout_seconds").getAsDouble(), result.lockoutSeconds, TOLERANCE, where);
    assertEquals(expected.get("reenroll_required").getAsBoolean(), result.reenrollRequired, where);
    if (expected.has("similarity")) {
      assertEquals(expected.get("similarity").getAsDouble(), result.similarity, TOLERANCE, where);
      assertEquals(expected.get("challenge_met").getAsBoolean(), result.challengeMet, where);
    }
  }
}

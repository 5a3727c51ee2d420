package org.kerasdmtl.unlock;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The export's {@code manifest.json}: what the app must feed the model and how to read it.
 *
 * <p>Written by {@code keras_dmtl.export.artifacts}; the Python runtime reads the same keys.
 */
public final class Manifest {

  /** One exported model file and the threshold calibrated for it. */
  public static final class ModelFormat {
    public final String name;
    public final String file;
    /** The model file's sha256 (lower-case hex): check it before loading the model. */
    public final String sha256;
    public final double threshold;
    public final double calibratedFar;

    ModelFormat(String name, String file, String sha256, double threshold, double calibratedFar) {
      this.name = name;
      this.file = file;
      this.sha256 = sha256;
      this.threshold = threshold;
      this.calibratedFar = calibratedFar;
    }
  }

  public final int height;
  public final int width;
  public final int channels;
  public final double faceMargin;
  /** Target landmarks (left eye, right eye, nose, mouth left, mouth right) in a unit square. */
  public final double[][] landmarkTemplate;
  public final List<String> expressionLabels;
  public final int embeddingSize;
  public final double targetFar;
  public final Map<String, ModelFormat> formats;

  private Manifest(JsonObject root) {
    JsonObject input = object(root, "input");
    height = integer(input, "height");
    width = integer(input, "width");
    channels = integer(input, "channels");
    if (channels != 1 && channels != 3) {
      throw new IllegalArgumentException("manifest.json: input.channels must be 1 or 3, got " + channels);
    }
    faceMargin = number(input, "face_margin");
    JsonArray points = array(input, "landmark_template");
    if (points.size() != 5) {
      throw new IllegalArgumentException("manifest.json: input.landmark_template needs 5 points");
    }
    landmarkTemplate = new double[5][2];
    for (int i = 0; i < 5; i++) {
      JsonArray point = points.get(i).getAsJsonArray();
      landmarkTemplate[i][0] = point.get(0).getAsDouble();
      landmarkTemplate[i][1] = point.get(1).getAsDouble();
    }
    List<String> labels = new ArrayList<>();
    for (JsonElement label : array(root, "expression_labels")) {
      labels.add(label.getAsString());
    }
    // Distinct: seven times "happy" would pass a smile challenge with any face.
    if (labels.isEmpty() || new HashSet<>(labels).size() != labels.size()) {
      throw new IllegalArgumentException("manifest.json: \"expression_labels\" must be a "
          + "non-empty list of distinct strings, got " + labels);
    }
    expressionLabels = Collections.unmodifiableList(labels);
    embeddingSize = integer(root, "embedding_size");
    targetFar = number(root, "target_far");
    Map<String, ModelFormat> parsed = new LinkedHashMap<>();
    for (Map.Entry<String, JsonElement> entry : object(root, "formats").entrySet()) {
      JsonObject format = entry.getValue().getAsJsonObject();
      String sha256 = format.has("sha256") && format.get("sha256").isJsonPrimitive()
          ? format.get("sha256").getAsString() : null;
      parsed.put(entry.getKey(), new ModelFormat(entry.getKey(), string(format, "file"),
          sha256, number(format, "threshold"), number(format, "calibrated_far")));
    }
    formats = Collections.unmodifiableMap(parsed);
  }

  /**
   * Parses the manifest text.
   *
   * @throws IllegalArgumentException naming the missing or malformed key.
   */
  public static Manifest parse(String json) {
    try {
      return new Manifest(JsonParser.parseString(json).getAsJsonObject());
    } catch (JsonParseException | IllegalStateException | UnsupportedOperationException e) {
      throw new IllegalArgumentException("manifest.json is not a keras_dmtl export manifest: "
          + e.getMessage() + "; copy the manifest.json written by export/export_model.py", e);
    }
  }

  /**
   * The model entry for {@code name} (e.g. "tflite_int8"), checked as the Python runtime
   * checks it: a plain file name, a sha256 hex digest, a finite threshold in (-1, 1].
   */
  public ModelFormat format(String name) {
    ModelFormat format = formats.get(name);
    if (format == null) {
      throw new IllegalArgumentException("manifest.json has no format " + name + "; it has "
          + formats.keySet() + " (export with --formats=" + name + ")");
    }
    String where = "manifest.json: \"formats." + name + ".";
    if (format.file.isEmpty() || format.file.contains("/") || format.file.contains("\\")
        || format.file.equals(".") || format.file.equals("..")) {
      throw new IllegalArgumentException(where + "file\" must be a file name in the export folder");
    }
    if (format.sha256 == null || !format.sha256.matches("[0-9a-f]{64}")) {
      throw new IllegalArgumentException(where + "sha256\" must be a sha256 hex digest");
    }
    if (!(Double.isFinite(format.threshold) && format.threshold > -1.0 && format.threshold <= 1.0)) {
      throw new IllegalArgumentException(where + "threshold\" must be a finite number in (-1, 1], got "
          + format.threshold);
    }
    return format;
  }

  /**
   * Refuses expression labels that do not name the model's expression classes one to one
   * (call when the model is loaded, with the size of its expression_probabilities output).
   */
  public void checkLabelCount(int classes) {
    if (expressionLabels.size() != classes) {
      throw new IllegalArgumentException("manifest.json lists " + expressionLabels.size()
          + " expression label(s) but the model outputs " + classes + " expression classes: the "
          + "manifest does not belong to this model; export the model again");
    }
  }

  /** The template landmarks for a {@code size} x {@code size} crop. */
  public double[][] referenceLandmarks(int size) {
    double[][] points = new double[5][2];
    for (int i = 0; i < 5; i++) {
      points[i][0] = landmarkTemplate[i][0] * size;
      points[i][1] = landmarkTemplate[i][1] * size;
    }
    return points;
  }

  private static JsonElement field(JsonObject parent, String key) {
    JsonElement value = parent.get(key);
    if (value == null || value.isJsonNull()) {
      throw new IllegalArgumentException("manifest.json: missing key \"" + key + "\"; re-export "
          + "the model with the current export/export_model.py");
    }
    return value;
  }

  private static JsonObject object(JsonObject parent, String key) {
    return field(parent, key).getAsJsonObject();
  }

  private static JsonArray array(JsonObject parent, String key) {
    return field(parent, key).getAsJsonArray();
  }

  private static int integer(JsonObject parent, String key) {
    return field(parent, key).getAsInt();
  }

  private static double number(JsonObject parent, String key) {
    return field(parent, key).getAsDouble();
  }

  private static String string(JsonObject parent, String key) {
    return field(parent, key).getAsString();
  }
}

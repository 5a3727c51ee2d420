package org.kerasdmtl.unlock;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What an enrollment must show, and what it binds a template to: the rules of
 * {@code keras_dmtl.edge.enrollment}.
 *
 * <ul>
 *   <li>One person: at least {@link #MIN_IMAGES} faces, and every pair of them at least as
 *       similar as an unlock must be (the enrollment floor is the threshold in force). An
 *       enrollment mixing two people then passes only when each cross pair is already a false
 *       accept at that threshold.
 *   <li>The export: the entry records the model's sha256, the threshold in force and the
 *       expression labels; {@link #exportMismatch} refuses an export whose model or labels
 *       differ, or whose threshold is looser than the enrolled one.
 * </ul>
 *
 * <p>The entry's JSON form is the Python store's: {@code {"template", "images",
 * "model_sha256", "threshold", "threshold_backed", "expression_labels"}}.
 */
public final class Enrollment {
  public static final int MIN_IMAGES = 3;
  /** Kinds of {@link #exportMismatch}, in the order they are checked. */
  public static final String UNRECORDED = "unrecorded";
  public static final String MODEL = "model";
  public static final String THRESHOLD = "threshold";
  public static final String LABELS = "labels";

  /** An enrollment the rules refuse. */
  public static final class RefusedException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
    /** The least similar pair {i, j} (i < j), or null when there were too few faces. */
    public final int[] pair;
    /** That pair's cosine similarity (NaN when there were too few faces). */
    public final double similarity;

    RefusedException(String message, int[] pair, double similarity) {
      super(message);
      this.pair = pair;
      this.similarity = similarity;
    }
  }

  public final double[] template;
  public final int images;
  public final String modelSha256;
  /** The threshold in force at enrollment; null in an entry enrolled before it was recorded. */
  public final Double threshold;
  public final Boolean thresholdBacked;
  public final List<String> expressionLabels;

  private Enrollment(double[] template, int images, String modelSha256, Double threshold,
      Boolean thresholdBacked, List<String> expressionLabels) {
    this.template = template;
    this.images = images;
    this.modelSha256 = modelSha256;
    this.threshold = threshold;
    this.thresholdBacked = thresholdBacked;
    this.expressionLabels = expressionLabels;
  }

  /** The cosine similarity of two raw embeddings. */
  public static double pairSimilarity(double[] first, double[] second) {
    return Templates.cosine(first, Templates.normalize(second));
  }

  /** The least similar pair {i, j} (i < j; the first such pair on ties). */
  public static int[] weakestPair(List<double[]> embeddings) {
    int[] weakest = null;
    double lowest = Double.POSITIVE_INFINITY;
    for (int i = 0; i < embeddings.size(); i++) {
      for (int j = i + 1; j < embeddings.size(); j++) {
        double similarity = pairSimilarity(embeddings.get(i), embeddings.get(j));
        if (weakest == null || similarity < lowest) {
          weakest = new int[] {i, j};
          lowest = similarity;
        }
      }
    }
    return weakest;
  }

  /**
   * Enrolls from one embedding per enrollment face.
   *
   * @param threshold the threshold in force: the enrollment floor, and the loosest one an
   *     unlock will take.
   * @param thresholdBacked whether that threshold meets the export's target FAR.
   * @throws RefusedException fewer than {@link #MIN_IMAGES} faces, or a pair below the
   *     threshold (naming the least similar pair).
   */
  public static Enrollment create(List<double[]> embeddings, String modelSha256,
      double threshold, boolean thresholdBacked, List<String> expressionLabels) {
    if (embeddings.size() < MIN_IMAGES) {
      throw new RefusedException("enroll needs at least " + MIN_IMAGES
          + " images of the user's face, got " + embeddings.size(), null, Double.NaN);
    }
    int[] pair = weakestPair(embeddings);
    double similarity = pairSimilarity(embeddings.get(pair[0]), embeddings.get(pair[1]));
    if (similarity < threshold) {
      throw new RefusedException(String.format("images %d and %d score %.3f against each other, "
          + "below the enrollment floor %.3f (the threshold in force): they may not show one "
          + "person; enroll from images of the user only, taken alike", pair[0] + 1, pair[1] + 1,
          similarity, threshold), pair, similarity);
    }
    return new Enrollment(Templates.average(embeddings), embeddings.size(), modelSha256,
        threshold, thresholdBacked, Collections.unmodifiableList(new ArrayList<>(expressionLabels)));
  }

  /**
   * What keeps this template from being used with an export, or null.
   *
   * @param threshold the threshold in force (the manifest's, or an explicit one).
   * @return null, {@link #UNRECORDED} (enrolled before the export was recorded), {@link #MODEL}
   *     (another model), {@link #THRESHOLD} (looser than enrolled) or {@link #LABELS}.
   */
  public String exportMismatch(String exportSha256, double threshold, List<String> labels) {
    if (this.threshold == null || thresholdBacked == null || expressionLabels == null) {
      return UNRECORDED;
    }
    if (!modelSha256.equals(exportSha256)) {
      return MODEL;
    }
    if (!(Double.isFinite(threshold) && threshold >= this.threshold)) {
      return THRESHOLD;
    }
    if (!expressionLabels.equals(labels)) {
      return LABELS;
    }
    return null;
  }

  /** The entry as the Python store writes it. */
  public JsonObject toJson() {
    JsonObject entry = new JsonObject();
    JsonArray values = new JsonArray();
    for (double value : template) {
      values.add(value);
    }
    entry.add("template", values);
    entry.addProperty("images", images);
    entry.addProperty("model_sha256", modelSha256);
    if (threshold != null) {
      entry.addProperty("threshold", threshold);
      entry.addProperty("threshold_backed", thresholdBacked);
      JsonArray labels = new JsonArray();
      expressionLabels.forEach(labels::add);
      entry.add("expression_labels", labels);
    }
    return entry;
  }

  /**
   * Reads an entry written by {@link #toJson()} or by the Python store; an entry written
   * before the export was recorded has no threshold and is refused by {@link #exportMismatch}.
   *
   * @throws IllegalArgumentException the entry is malformed.
   */
  public static Enrollment fromJson(JsonObject entry) {
    try {
      JsonArray values = entry.getAsJsonArray("template");
      double[] template = new double[values.size()];
      for (int i = 0; i < template.length; i++) {
        template[i] = values.get(i).getAsDouble();
      }
      boolean recorded = entry.has("threshold") && entry.has("threshold_backed")
          && entry.has("expression_labels");
      List<String> labels = null;
      if (recorded) {
        labels = new ArrayList<>();
        for (JsonElement label : entry.getAsJsonArray("expression_labels")) {
          labels.add(label.getAsString());
        }
        labels = Collections.unmodifiableList(labels);
      }
      return new Enrollment(template, entry.get("images").getAsInt(),
          entry.get("model_sha256").getAsString(),
          recorded ? entry.get("threshold").getAsDouble() : null,
          recorded ? entry.get("threshold_backed").getAsBoolean() : null, labels);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("malformed enrollment entry (" + e.getMessage()
          + "): enroll the user again", e);
    }
  }
}

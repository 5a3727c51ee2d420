package org.kerasdmtl.unlock;

import java.util.List;

/** Face templates: L2-normalised embeddings, their average and cosine similarity. */
public final class Templates {
  private Templates() {}

  /** {@code vector / ||vector||}. */
  public static double[] normalize(double[] vector) {
    double norm = Math.sqrt(dot(vector, vector));
    if (!(norm > 0)) {
      throw new IllegalArgumentException("cannot normalise a zero or non-finite embedding");
    }
    double[] unit = new double[vector.length];
    for (int i = 0; i < vector.length; i++) {
      unit[i] = vector[i] / norm;
    }
    return unit;
  }

  /** A float model output as doubles (the similarity is computed in double, as in Python). */
  public static double[] toDouble(float[] embedding) {
    double[] values = new double[embedding.length];
    for (int i = 0; i < embedding.length; i++) {
      values[i] = embedding[i];
    }
    return values;
  }

  /** One template per user: the mean of the normalised embeddings, normalised again. */
  public static double[] average(List<double[]> embeddings) {
    if (embeddings.isEmpty()) {
      throw new IllegalArgumentException("enrolment needs at least one embedding");
    }
    double[] mean = new double[embeddings.get(0).length];
    for (double[] embedding : embeddings) {
      double[] unit = normalize(embedding);
      for (int i = 0; i < mean.length; i++) {
        mean[i] += unit[i];
      }
    }
    for (int i = 0; i < mean.length; i++) {
      mean[i] /= embeddings.size();
    }
    return normalize(mean);
  }

  /** Cosine of a raw embedding and a normalised template. */
  public static double cosine(double[] embedding, double[] template) {
    if (embedding.length != template.length) {
      throw new IllegalArgumentException("embedding size " + embedding.length
          + " does not match the template's " + template.length + ": enroll again with this model");
    }
    return dot(embedding, template) / Math.sqrt(dot(embedding, embedding));
  }

  private static double dot(double[] a, double[] b) {
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      sum += a[i] * b[i];
    }
    return sum;
  }
}

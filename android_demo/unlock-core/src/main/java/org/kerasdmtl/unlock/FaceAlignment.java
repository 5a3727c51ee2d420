package org.kerasdmtl.unlock;

/**
 * Face crops as training made them: the same geometry and the same pixel arithmetic.
 *
 * <p>Mirrors {@code keras_dmtl.data.faces.alignment}: a least-squares similarity transform of the
 * five landmarks onto the template, or without landmarks a square crop of the detection box
 * grown by the margin; then OpenCV's bilinear {@code warpAffine} (replicated border) and
 * {@code cvtColor(RGB2GRAY)}, reproduced to the bit, including OpenCV's fixed-point rounding.
 */
public final class FaceAlignment {
  // OpenCV's warpAffine: coordinates in 1/1024 pixel, sampled at 1/32 pixel, weights in
  // 1/32768 (imgwarp.cpp: AB_BITS, INTER_BITS, INTER_REMAP_COEF_BITS).
  private static final int AB_BITS = 10;
  private static final int INTER_BITS = 5;
  private static final int INTER_TAB_SIZE = 1 << INTER_BITS;
  private static final int COEF_BITS = 15;

  private FaceAlignment() {}

  /**
   * The least-squares similarity (rotation, uniform scale, shift; no reflection) taking
   * {@code source} points onto {@code target} points.
   *
   * @return the 2x3 matrix {a, -b, tx, b, a, ty} (row-major) with target ~= M [x y 1]^T.
   */
  public static double[] similarityTransform(double[][] source, double[][] target) {
    int n = source.length;
    double sx = 0, sy = 0, tx = 0, ty = 0;
    for (int i = 0; i < n; i++) {
      sx += source[i][0];
      sy += source[i][1];
      tx += target[i][0];
      ty += target[i][1];
    }
    sx /= n;
    sy /= n;
    tx /= n;
    ty /= n;
    double norm = 0, dot = 0, cross = 0;
    for (int i = 0; i < n; i++) {
      double px = source[i][0] - sx, py = source[i][1] - sy;
      double qx = target[i][0] - tx, qy = target[i][1] - ty;
      norm += px * px + py * py;
      dot += px * qx + py * qy;
      cross += px * qy - py * qx;
    }
    double a = dot / norm, b = cross / norm;
    return new double[] {a, -b, tx - (a * sx - b * sy), b, a, ty - (b * sx + a * sy)};
  }

  /** The matrix of a square crop around a detection box (x, y, w, h) grown by {@code margin}. */
  public static double[] cropBoxTransform(double[] box, int size, double margin) {
    double side = Math.max(box[2], box[3]) * (1.0 + margin);
    double centreX = box[0] + box[2] / 2.0, centreY = box[1] + box[3] / 2.0;
    double scale = size / side;
    return new double[] {scale, 0.0, size / 2.0 - scale * centreX,
        0.0, scale, size / 2.0 - scale * centreY};
  }

  /**
   * OpenCV's {@code warpAffine(image, matrix, (size, size), INTER_LINEAR, BORDER_REPLICATE)}.
   *
   * @param matrix 2x3 row-major, mapping image pixels to crop pixels.
   * @return the size x size RGB crop.
   */
  public static RgbImage warpAffine(RgbImage image, double[] matrix, int size) {
    // Invert as OpenCV does, in the same order of operations.
    double[] m = matrix.clone();
    double d = m[0] * m[4] - m[1] * m[3];
    d = d != 0 ? 1.0 / d : 0.0;
    double a11 = m[4] * d, a22 = m[0] * d;
    m[0] = a11;
    m[1] *= -d;
    m[3] *= -d;
    m[4] = a22;
    double b1 = -m[0] * m[2] - m[1] * m[5];
    double b2 = -m[3] * m[2] - m[4] * m[5];
    m[2] = b1;
    m[5] = b2;

    int scale = 1 << AB_BITS;
    int roundDelta = scale / INTER_TAB_SIZE / 2;
    byte[] out = new byte[size * size * 3];
    for (int y = 0; y < size; y++) {
      int x0 = (int) Math.rint((m[1] * y + m[2]) * scale) + roundDelta;
      int y0 = (int) Math.rint((m[4] * y + m[5]) * scale) + roundDelta;
      for (int x = 0; x < size; x++) {
        int fx = (x0 + (int) Math.rint(m[0] * x * scale)) >> (AB_BITS - INTER_BITS);
        int fy = (y0 + (int) Math.rint(m[3] * x * scale)) >> (AB_BITS - INTER_BITS);
        int ix = fx >> INTER_BITS, iy = fy >> INTER_BITS;
        int ax = fx & (INTER_TAB_SIZE - 1), ay = fy & (INTER_TAB_SIZE - 1);
        int left = clamp(ix, image.width), right = clamp(ix + 1, image.width);
        int top = clamp(iy, image.height), bottom = clamp(iy + 1, image.height);
        for (int c = 0; c < 3; c++) {
          int value = (INTER_TAB_SIZE - ay) * ((INTER_TAB_SIZE - ax) * image.get(left, top, c)
                  + ax * image.get(right, top, c))
              + ay * ((INTER_TAB_SIZE - ax) * image.get(left, bottom, c)
                  + ax * image.get(right, bottom, c));
          // Weights (32 - a)(32 - b) / 1024 carried in 1/32768: multiply by 32.
          value = (value * (1 << (COEF_BITS - 2 * INTER_BITS)) + (1 << (COEF_BITS - 1))) >> COEF_BITS;
          out[(y * size + x) * 3 + c] = (byte) Math.min(255, Math.max(0, value));
        }
      }
    }
    return new RgbImage(size, size, out);
  }

  /** OpenCV's {@code cvtColor(RGB2GRAY)} for 8-bit pixels (fixed point, 15 bits). */
  public static int gray(int red, int green, int blue) {
    return (red * 9798 + green * 19235 + blue * 3735 + (1 << 14)) >> 15;
  }

  /**
   * The model input of an aligned crop: float pixels 0..255 in HWC order, gray or RGB.
   * Normalisation happens inside the model.
   */
  public static float[] modelInput(RgbImage crop, int channels) {
    int pixels = crop.width * crop.height;
    float[] input = new float[pixels * channels];
    for (int i = 0; i < pixels; i++) {
      int r = crop.rgb[3 * i] & 0xFF, g = crop.rgb[3 * i + 1] & 0xFF, b = crop.rgb[3 * i + 2] & 0xFF;
      if (channels == 1) {
        input[i] = gray(r, g, b);
      } else {
        input[3 * i] = r;
        input[3 * i + 1] = g;
        input[3 * i + 2] = b;
      }
    }
    return input;
  }

  /**
   * The model input for a face given its five landmarks in the frame (image-left eye first:
   * left eye, right eye, nose tip, left mouth corner, right mouth corner).
   */
  public static float[] alignedInput(RgbImage frame, double[][] landmarks, Manifest manifest) {
    double[] matrix = similarityTransform(landmarks, manifest.referenceLandmarks(manifest.height));
    return modelInput(warpAffine(frame, matrix, manifest.height), manifest.channels);
  }

  /** The model input for a face known only by its detection box (x, y, w, h). */
  public static float[] boxInput(RgbImage frame, double[] box, Manifest manifest) {
    double[] matrix = cropBoxTransform(box, manifest.height, manifest.faceMargin);
    return modelInput(warpAffine(frame, matrix, manifest.height), manifest.channels);
  }

  /** LiteRT's affine quantisation of a float value: round half to even, then saturate. */
  public static int quantize(float value, float scale, int zeroPoint, boolean unsigned) {
    float scaled = value / scale + zeroPoint;
    int q = (int) Math.rint(scaled);
    return unsigned ? Math.min(255, Math.max(0, q)) : Math.min(127, Math.max(-128, q));
  }

  private static int clamp(int index, int length) {
    return Math.min(length - 1, Math.max(0, index));
  }
}

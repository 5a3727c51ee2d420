package org.kerasdmtl.unlock;

/**
 * Which camera frames are good enough to enroll: a large, centred, sharp face.
 *
 * <p>Enrollment averages several frames into the template, so one blurred or off-centre frame
 * would move it for good; unlock attempts are not gated (a bad frame just scores low).
 */
public final class QualityGate {
  /** Face box side over the frame's shorter side. */
  public final double minFaceFraction;
  /** Distance of the box centre from the frame centre, over the frame's shorter side. */
  public final double maxCentreOffset;
  /** Variance of the 4-neighbour Laplacian of the gray model input. */
  public final double minSharpness;

  public QualityGate(double minFaceFraction, double maxCentreOffset, double minSharpness) {
    this.minFaceFraction = minFaceFraction;
    this.maxCentreOffset = maxCentreOffset;
    this.minSharpness = minSharpness;
  }

  /** Defaults for a phone held at arm's length. */
  public static QualityGate defaults() {
    return new QualityGate(0.25, 0.2, 20.0);
  }

  /**
   * Why a frame is refused, or null when it passes.
   *
   * @param box the face box (x, y, w, h) in the frame.
   * @param input the model input made from it ({@link FaceAlignment}), HWC.
   */
  public String problem(double[] box, int frameWidth, int frameHeight, float[] input, int size,
      int channels) {
    double shorter = Math.min(frameWidth, frameHeight);
    if (Math.max(box[2], box[3]) < minFaceFraction * shorter) {
      return "move closer";
    }
    double dx = box[0] + box[2] / 2.0 - frameWidth / 2.0;
    double dy = box[1] + box[3] / 2.0 - frameHeight / 2.0;
    if (Math.hypot(dx, dy) > maxCentreOffset * shorter) {
      return "centre your face";
    }
    if (sharpness(input, size, channels) < minSharpness) {
      return "hold still";
    }
    return null;
  }

  /** Variance of the Laplacian of the input's first channel (low = blurred). */
  public static double sharpness(float[] input, int size, int channels) {
    double sum = 0, sumSquares = 0;
    int count = 0;
    for (int y = 1; y < size - 1; y++) {
      for (int x = 1; x < size - 1; x++) {
        double laplacian = at(input, size, channels, x - 1, y) + at(input, size, channels, x + 1, y)
            + at(input, size, channels, x, y - 1) + at(input, size, channels, x, y + 1)
            - 4 * at(input, size, channels, x, y);
        sum += laplacian;
        sumSquares += laplacian * laplacian;
        count++;
      }
    }
    double mean = sum / count;
    return sumSquares / count - mean * mean;
  }

  private static double at(float[] input, int size, int channels, int x, int y) {
    return input[(y * size + x) * channels];
  }
}

package org.kerasdmtl.unlock;

/** An upright camera frame: interleaved 8-bit RGB, row-major, no padding. */
public final class RgbImage {
  public final int width;
  public final int height;
  /** width * height * 3 bytes (unsigned: read with {@code & 0xFF}). */
  public final byte[] rgb;

  public RgbImage(int width, int height, byte[] rgb) {
    if (width <= 0 || height <= 0 || rgb.length != width * height * 3) {
      throw new IllegalArgumentException("RgbImage: " + rgb.length + " bytes for " + width + "x"
          + height + " RGB (expected " + (width * height * 3) + ")");
    }
    this.width = width;
    this.height = height;
    this.rgb = rgb;
  }

  /** From Android's ARGB_8888 pixels ({@code Bitmap.getPixels}). */
  public static RgbImage fromArgb(int[] argb, int width, int height) {
    byte[] rgb = new byte[width * height * 3];
    for (int i = 0; i < argb.length; i++) {
      rgb[3 * i] = (byte) (argb[i] >> 16);
      rgb[3 * i + 1] = (byte) (argb[i] >> 8);
      rgb[3 * i + 2] = (byte) argb[i];
    }
    return new RgbImage(width, height, rgb);
  }

  /** The pixel value of channel {@code c} at (x, y), 0..255. */
  public int get(int x, int y, int c) {
    return rgb[(y * width + x) * 3 + c] & 0xFF;
  }
}

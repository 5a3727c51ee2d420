package org.kerasdmtl.unlock;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.HashMap;
import java.util.Map;
import java.util.function.DoubleSupplier;

/**
 * After 5 failed attempts in a row, refuse attempts for 30 seconds (Android's class-1 bar).
 *
 * <p>The same state machine as {@code keras_dmtl.edge.policy.AttemptPolicy}, with the same
 * persisted form: {@code {"user": {"failures": n, "locked_until": seconds}}}. The clock is
 * wall-clock seconds so that a lockout survives an app restart.
 */
public final class AttemptPolicy {
  public static final int MAX_FAILURES = 5;
  public static final double LOCKOUT_SECONDS = 30.0;

  private static final class Entry {
    int failures;
    double lockedUntil;
  }

  private final Map<String, Entry> entries = new HashMap<>();
  private final int maxFailures;
  private final double lockoutSeconds;
  private final DoubleSupplier clock;

  /** @param clock current time in seconds, e.g. {@code () -> System.currentTimeMillis() / 1000.0}. */
  public AttemptPolicy(DoubleSupplier clock) {
    this(MAX_FAILURES, LOCKOUT_SECONDS, clock);
  }

  public AttemptPolicy(int maxFailures, double lockoutSeconds, DoubleSupplier clock) {
    this.maxFailures = maxFailures;
    this.lockoutSeconds = lockoutSeconds;
    this.clock = clock;
  }

  private Entry entry(String user) {
    return entries.computeIfAbsent(user, key -> new Entry());
  }

  /** Seconds left in the user's lockout (0 when not locked). */
  public double lockedFor(String user) {
    return Math.max(0.0, entry(user).lockedUntil - clock.getAsDouble());
  }

  /** Records an attempt's outcome; returns the lockout seconds now in force. */
  public double record(String user, boolean success) {
    Entry entry = entry(user);
    if (success) {
      entry.failures = 0;
      entry.lockedUntil = 0.0;
      return 0.0;
    }
    entry.failures += 1;
    if (entry.failures >= maxFailures) {
      entry.failures = 0;
      entry.lockedUntil = clock.getAsDouble() + lockoutSeconds;
    }
    return lockedFor(user);
  }

  /** Consecutive failures counted so far (0 after a success or a lockout). */
  public int failures(String user) {
    return entry(user).failures;
  }

  /** The state to persist (the app encrypts it with the templates). */
  public String toJson() {
    JsonObject root = new JsonObject();
    for (Map.Entry<String, Entry> item : entries.entrySet()) {
      JsonObject entry = new JsonObject();
      entry.addProperty("failures", item.getValue().failures);
      entry.addProperty("locked_until", item.getValue().lockedUntil);
      root.add(item.getKey(), entry);
    }
    return root.toString();
  }

  /** Restores the state written by {@link #toJson()}. */
  public void restore(String json) {
    entries.clear();
    JsonObject root = JsonParser.parseString(json).getAsJsonObject();
    for (String user : root.keySet()) {
      JsonObject saved = root.getAsJsonObject(user);
      Entry entry = entry(user);
      entry.failures = saved.get("failures").getAsInt();
      entry.lockedUntil = saved.get("locked_until").getAsDouble();
    }
  }
}

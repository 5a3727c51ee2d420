package org.kerasdmtl.unlock;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.HashMap;
import java.util.Map;
import java.util.function.DoubleSupplier;

/**
 * Lockouts that back off exponentially, a device-wide budget, and re-enrollment after 20
 * failures (Android's fingerprint policy is 5 / 20).
 *
 * <ul>
 *   <li>The 5th failed attempt in a row of a user locks that user out for 30 s; every further
 *       failure doubles the lockout, up to 15 minutes.
 *   <li>After 20 failures in a row the template is disabled until the user re-enrolls.
 *   <li>The same count and backoff run device-wide over all users' failures, so that trying
 *       many user names does not multiply attempts; it never disables a template.
 *   <li>A success resets its user's count and the device's.
 *   <li>A lockout is kept as its start and length: a clock that runs backwards (now before the
 *       start) restarts the lockout, in full, from now. A clock moved forward cannot be told
 *       from time passing; the 20-failure limit bounds what that gains.
 * </ul>
 *
 * <p>The same state machine as {@code keras_dmtl.edge.policy.AttemptPolicy}, with the same
 * numbers and persisted form: {@code {"device": entry, "users": {"name": entry}}}, each entry
 * {@code {"failures": n, "locked_from": seconds, "lockout_seconds": seconds}}.
 */
public final class AttemptPolicy {
  public static final int FAILURES_BEFORE_LOCKOUT = 5;
  public static final double FIRST_LOCKOUT_SECONDS = 30.0;
  public static final double MAX_LOCKOUT_SECONDS = 900.0;
  public static final int FAILURES_BEFORE_REENROLL = 20;
  /** The persisted state of a policy that has seen no attempt. */
  public static final String EMPTY_STATE = new AttemptPolicy(() -> 0.0).toJson();

  private static final class Entry {
    int failures;
    double lockedFrom;
    double lockoutSeconds;
  }

  private final Map<String, Entry> users = new HashMap<>();
  private Entry device = new Entry();
  private final DoubleSupplier clock;

  /** @param clock current time in seconds, e.g. {@code () -> System.currentTimeMillis() / 1000.0}. */
  public AttemptPolicy(DoubleSupplier clock) {
    this.clock = clock;
  }

  /** The lockout the {@code failures}-th failure in a row starts (0 below 5). */
  public static double lockoutSeconds(int failures) {
    if (failures < FAILURES_BEFORE_LOCKOUT) {
      return 0.0;
    }
    int doublings = Math.min(failures - FAILURES_BEFORE_LOCKOUT, 30);
    return Math.min(FIRST_LOCKOUT_SECONDS * Math.pow(2.0, doublings), MAX_LOCKOUT_SECONDS);
  }

  private Entry user(String user) {
    return users.computeIfAbsent(user, key -> new Entry());
  }

  private static double remaining(Entry entry, double now) {
    if (entry.lockoutSeconds <= 0) {
      return 0.0;
    }
    if (now < entry.lockedFrom) {
      // The clock ran backwards: we cannot know how long the user waited.
      entry.lockedFrom = now;
      return entry.lockoutSeconds;
    }
    return Math.max(0.0, entry.lockedFrom + entry.lockoutSeconds - now);
  }

  /** Seconds left in the user's or the device's lockout, whichever is longer. */
  public double lockedFor(String user) {
    double now = clock.getAsDouble();
    return Math.max(remaining(user(user), now), remaining(device, now));
  }

  /** Whether the user failed 20 times in a row: the template is disabled until re-enrolled. */
  public boolean reenrollRequired(String user) {
    return user(user).failures >= FAILURES_BEFORE_REENROLL;
  }

  /** Records a decided attempt's outcome; returns the lockout seconds now in force. */
  public double record(String user, boolean success) {
    if (success) {
      users.put(user, new Entry());
      device = new Entry();
      return 0.0;
    }
    double now = clock.getAsDouble();
    for (Entry entry : new Entry[] {user(user), device}) {
      entry.failures += 1;
      double length = lockoutSeconds(entry.failures);
      if (length > 0) {
        entry.lockedFrom = now;
        entry.lockoutSeconds = length;
      }
    }
    return lockedFor(user);
  }

  /** Clears a user's count and lockout (a new template was enrolled). */
  public void forget(String user) {
    users.put(user, new Entry());
  }

  /** The user's failures in a row. */
  public int failures(String user) {
    return user(user).failures;
  }

  /** The state to persist (the app encrypts it with the templates). */
  public String toJson() {
    JsonObject saved = new JsonObject();
    for (Map.Entry<String, Entry> item : users.entrySet()) {
      saved.add(item.getKey(), entryJson(item.getValue()));
    }
    JsonObject root = new JsonObject();
    root.add("device", entryJson(device));
    root.add("users", saved);
    return root.toString();
  }

  /**
   * Restores the state written by {@link #toJson()}.
   *
   * @throws IllegalArgumentException when the state is malformed (fail closed: the caller must
   *     not start from an empty state, which would clear every lockout).
   */
  public void restore(String json) {
    try {
      JsonObject root = JsonParser.parseString(json).getAsJsonObject();
      Entry restoredDevice = entry(root.getAsJsonObject("device"));
      Map<String, Entry> restored = new HashMap<>();
      for (Map.Entry<String, JsonElement> item : root.getAsJsonObject("users").entrySet()) {
        restored.put(item.getKey(), entry(item.getValue().getAsJsonObject()));
      }
      users.clear();
      users.putAll(restored);
      device = restoredDevice;
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("the saved attempt state is malformed (" + e.getMessage()
          + "); refusing to start from an empty one, which would clear every lockout", e);
    }
  }

  private static JsonObject entryJson(Entry entry) {
    JsonObject json = new JsonObject();
    json.addProperty("failures", entry.failures);
    json.addProperty("locked_from", entry.lockedFrom);
    json.addProperty("lockout_seconds", entry.lockoutSeconds);
    return json;
  }

  private static Entry entry(JsonObject saved) {
    Entry entry = new Entry();
    entry.failures = saved.get("failures").getAsInt();
    entry.lockedFrom = saved.get("locked_from").getAsDouble();
    entry.lockoutSeconds = saved.get("lockout_seconds").getAsDouble();
    if (entry.failures < 0 || !Double.isFinite(entry.lockedFrom)
        || !(entry.lockoutSeconds >= 0) || Double.isInfinite(entry.lockoutSeconds)) {
      throw new IllegalArgumentException("out-of-range attempt state");
    }
    return entry;
  }
}

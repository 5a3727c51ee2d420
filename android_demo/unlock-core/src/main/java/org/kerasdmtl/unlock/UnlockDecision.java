package org.kerasdmtl.unlock;

/**
 * One unlock attempt's decision, given what the model saw: the rules of
 * {@code keras_dmtl.edge.decision.verify_attempt}.
 *
 * <p>A user whose template was disabled (20 failures in a row) or who is locked out (alone or
 * device-wide) is refused before the face is looked at; an attempt with no face is
 * neither accepted nor counted as a failure; otherwise the face is accepted when its cosine
 * similarity to the template reaches the threshold and, with a liveness challenge ("smile to
 * unlock"), the expression head sees the asked-for expression on it.
 */
public final class UnlockDecision {
  public static final String ACCEPT = "accept";
  public static final String REJECT = "reject";
  public static final String LOCKED = "locked";
  public static final String NO_FACE = "no face";

  public final String decision;
  /** NaN when the attempt was not decided (locked, no face). */
  public final double similarity;
  public final double threshold;
  public final String expression;
  public final boolean challengeMet;
  public final double lockoutSeconds;
  /** The template is disabled (20 failures in a row) until the user re-enrolls. */
  public final boolean reenrollRequired;

  private UnlockDecision(String decision, double similarity, double threshold, String expression,
      boolean challengeMet, double lockoutSeconds, boolean reenrollRequired) {
    this.decision = decision;
    this.similarity = similarity;
    this.threshold = threshold;
    this.expression = expression;
    this.challengeMet = challengeMet;
    this.lockoutSeconds = lockoutSeconds;
    this.reenrollRequired = reenrollRequired;
  }

  /** Whether the user may check the face now (not locked out). */
  public static boolean mayAttempt(AttemptPolicy policy, String user) {
    return !policy.reenrollRequired(user) && policy.lockedFor(user) <= 0;
  }

  /**
   * Decides one attempt and records its outcome in {@code policy}.
   *
   * @param embedding the face's embedding, or null when no face was found.
   * @param expression the expression label the model gave the face.
   * @param challenge the expression the face must show, or null for none.
   */
  public static UnlockDecision verify(AttemptPolicy policy, String user, double[] template,
      double[] embedding, String expression, double threshold, String challenge) {
    double locked = policy.lockedFor(user);
    if (policy.reenrollRequired(user) || locked > 0) {
      return new UnlockDecision(LOCKED, Double.NaN, threshold, null, false, locked,
          policy.reenrollRequired(user));
    }
    if (embedding == null) {
      return new UnlockDecision(NO_FACE, Double.NaN, threshold, null, false, 0.0, false);
    }
    double similarity = Templates.cosine(embedding, template);
    boolean challengeMet = challenge == null || challenge.equals(expression);
    boolean accepted = similarity >= threshold && challengeMet;
    double lockout = policy.record(user, accepted);
    return new UnlockDecision(accepted ? ACCEPT : REJECT, similarity, threshold, expression,
        challengeMet, lockout, policy.reenrollRequired(user));
  }

  public boolean accepted() {
    return ACCEPT.equals(decision);
  }
}

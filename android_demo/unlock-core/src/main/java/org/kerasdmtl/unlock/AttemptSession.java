package org.kerasdmtl.unlock;

/**
 * The faces of one unlock attempt: at most {@link #MAX_FACES_PER_ATTEMPT} compared, decided
 * once; the rules of {@code keras_dmtl.edge.decision.AttemptSession}.
 *
 * <p>Faces are offered until one is accepted or the cap is reached; {@link #decide()} then
 * records one attempt in the policy: accepted if a face was, else one failure (or "no face"
 * when none was compared). Each compared face is one draw at the threshold's false-accept
 * rate, so the cap bounds an attempt's false-accept chance to {@code MAX_FACES_PER_ATTEMPT}
 * times the calibrated FAR, and a template to {@link #COMPARISONS_PER_TEMPLATE} comparisons
 * before it is disabled.
 *
 * <p>A compared face that goes unrecorded is a free guess: open the session in a
 * try-with-resources block, whose {@link #close()} decides an undecided attempt whatever ends
 * the block (an exception, the activity stopping).
 */
public final class AttemptSession implements AutoCloseable {
  public static final int MAX_FACES_PER_ATTEMPT = 5;
  /** What an attacker gets against one template before it is disabled until re-enrollment. */
  public static final int COMPARISONS_PER_TEMPLATE =
      MAX_FACES_PER_ATTEMPT * AttemptPolicy.FAILURES_BEFORE_REENROLL;

  private final AttemptPolicy policy;
  private final String user;
  private final double[] template;
  private final double threshold;
  private final String challenge;
  private int compared;
  private boolean accepted;
  private double chosenSimilarity = Double.NEGATIVE_INFINITY;
  private double[] chosenEmbedding;
  private String chosenExpression;
  private UnlockDecision decision;

  /**
   * @param template the user's normalised template.
   * @param challenge the expression the face must show, or null for none.
   */
  public AttemptSession(AttemptPolicy policy, String user, double[] template, double threshold,
      String challenge) {
    this.policy = policy;
    this.user = user;
    this.template = template;
    this.threshold = threshold;
    this.challenge = challenge;
  }

  /** Whether another face may be compared: none accepted yet, the cap not reached, undecided. */
  public boolean isOpen() {
    return !accepted && decision == null && compared < MAX_FACES_PER_ATTEMPT;
  }

  /** How many faces this attempt compared. */
  public int compared() {
    return compared;
  }

  /**
   * Compares one face with the template; returns whether it is accepted.
   *
   * @throws IllegalStateException the session is not open (a face over the cap is never
   *     compared).
   */
  public boolean offer(double[] embedding, String expression) {
    if (!isOpen()) {
      throw new IllegalStateException("this attempt already compared " + compared
          + " face(s) (at most " + MAX_FACES_PER_ATTEMPT + ") or was decided: start a new attempt");
    }
    double similarity = Templates.cosine(embedding, template);
    boolean faceAccepted = similarity >= threshold
        && (challenge == null || challenge.equals(expression));
    compared++;
    if (faceAccepted || chosenEmbedding == null || similarity > chosenSimilarity) {
      chosenSimilarity = similarity;
      chosenEmbedding = embedding;
      chosenExpression = expression;
    }
    accepted = faceAccepted;
    return faceAccepted;
  }

  /**
   * Records the attempt in the policy (see {@link UnlockDecision#verify}); returns its result.
   *
   * @throws IllegalStateException the attempt was already decided (one attempt, one record).
   */
  public UnlockDecision decide() {
    if (decision != null) {
      throw new IllegalStateException("this attempt was already decided: start a new attempt");
    }
    decision = UnlockDecision.verify(policy, user, template, chosenEmbedding, chosenExpression,
        threshold, challenge);
    return decision;
  }

  /** Decides the attempt unless it was decided: a compared face always counts. */
  @Override
  public void close() {
    if (decision == null) {
      decide();
    }
  }
}

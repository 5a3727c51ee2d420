package org.kerasdmtl.unlockdemo

import android.os.Bundle
import android.os.SystemClock
import org.kerasdmtl.unlock.AttemptPolicy
import org.kerasdmtl.unlock.UnlockDecision

/**
 * Live unlock for [user]: one decided attempt per [ATTEMPT_GAP_MS] (a camera gives ~30
 * frames a second; counting each would lock the owner out within 200 ms of a stranger
 * glancing at the phone), the same decision rules as the Python runtime, the lockout
 * persisted in the vault, and an optional "smile to unlock" liveness challenge.
 */
class UnlockActivity : CameraActivity() {
    private val policy = AttemptPolicy { System.currentTimeMillis() / 1000.0 }
    private lateinit var contents: TemplateVault.Contents
    private var template: DoubleArray? = null
    private var lastAttempt = 0L

    // Read by the analysis thread; the policy itself is only touched on the UI thread.
    @Volatile private var lockedOut = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        if (isFinishing) return
        contents = try {
            vault.load()
        } catch (error: VaultCorruptedException) {
            fail(error.message.orEmpty())
            return
        }
        template = contents.templates[user]
        if (template == null) {
            fail(getString(R.string.not_enrolled, user))
            return
        }
        policy.restore(contents.policyState)
    }

    // Locked out: the face is not even run through the model.
    override fun shouldRunModel(): Boolean = !lockedOut

    override fun onFrame(frame: FaceFrame) {
        val enrolled = template ?: return
        val now = SystemClock.elapsedRealtime()
        val locked = policy.lockedFor(user)
        val disabled = policy.reenrollRequired(user)
        lockedOut = locked > 0 || disabled
        if (lockedOut) {
            binding.overlay.show(frame.box, "", frame.frameWidth, frame.frameHeight, false)
            binding.status.text = if (disabled) getString(R.string.reenroll_required)
                else getString(R.string.locked, locked.toInt() + 1)
            return
        }
        if (frame.box == null) {
            binding.overlay.show(null, "", frame.frameWidth, frame.frameHeight, false)
            binding.status.text = getString(R.string.no_face)
            return
        }
        val analysis = frame.analysis ?: return
        if (now - lastAttempt < ATTEMPT_GAP_MS) return
        lastAttempt = now
        val challenge = if (binding.smileSwitch.isChecked) CHALLENGE else null
        val result = UnlockDecision.verify(
            policy, user, enrolled, analysis.embedding, analysis.expression, model.threshold, challenge,
        )
        lockedOut = result.lockoutSeconds > 0 || result.reenrollRequired
        contents.policyState = policy.toJson()
        vault.save(contents)
        val label = "${analysis.expression} ${"%.2f".format(analysis.expressionConfidence)}"
        binding.overlay.show(frame.box, label, frame.frameWidth, frame.frameHeight, result.accepted())
        binding.status.text = getString(
            if (result.accepted()) R.string.accepted else R.string.rejected,
            result.similarity, result.threshold, analysis.expression,
        ) + if (challenge != null && !result.challengeMet) getString(R.string.smile_please) else ""
    }

    private companion object {
        const val ATTEMPT_GAP_MS = 1000L
        const val CHALLENGE = "happy"
    }
}

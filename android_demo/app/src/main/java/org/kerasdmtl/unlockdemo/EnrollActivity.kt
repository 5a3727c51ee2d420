package org.kerasdmtl.unlockdemo

import android.os.Bundle
import android.os.SystemClock
import android.view.View
import android.widget.Toast
import org.kerasdmtl.unlock.AttemptPolicy
import org.kerasdmtl.unlock.Templates

/**
 * Enrolls [user] from [FRAMES] quality-gated frames (large, centred, sharp face), at
 * least [FRAME_GAP_MS] apart so that they differ; their average becomes the template.
 */
class EnrollActivity : CameraActivity() {
    private val embeddings = mutableListOf<DoubleArray>()
    private var lastTaken = 0L

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        binding.smileSwitch.visibility = View.GONE
        binding.status.text = getString(R.string.enroll_hint, user)
    }

    override fun onFrame(frame: FaceFrame) {
        val analysis = frame.analysis
        val problem = frame.qualityProblem
        val label = when {
            frame.box == null -> getString(R.string.no_face)
            problem != null -> problem
            else -> getString(R.string.enroll_progress, embeddings.size, FRAMES)
        }
        binding.overlay.show(frame.box, label, frame.frameWidth, frame.frameHeight, problem == null)
        binding.status.text = label
        val now = SystemClock.elapsedRealtime()
        if (analysis == null || problem != null || now - lastTaken < FRAME_GAP_MS) return
        lastTaken = now
        embeddings += analysis.embedding
        if (embeddings.size == FRAMES) finishEnrollment()
    }

    private fun finishEnrollment() {
        val contents = try {
            vault.load()
        } catch (error: VaultCorruptedException) {
            fail(error.message.orEmpty())
            return
        }
        // Re-enrolling must not be a way around a lockout; it clears a disabled template.
        val policy = AttemptPolicy { System.currentTimeMillis() / 1000.0 }
        policy.restore(contents.policyState)
        val locked = policy.lockedFor(user)
        if (locked > 0) {
            fail(getString(R.string.locked, locked.toInt() + 1))
            return
        }
        contents.templates[user] = Templates.average(embeddings)
        policy.forget(user)
        contents.policyState = policy.toJson()
        vault.save(contents)
        Toast.makeText(this, getString(R.string.enrolled, user, FRAMES), Toast.LENGTH_LONG).show()
        finish()
    }

    private companion object {
        const val FRAMES = 5
        const val FRAME_GAP_MS = 300L
    }
}

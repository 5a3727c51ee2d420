package org.kerasdmtl.unlockdemo

import android.graphics.Bitmap
import android.graphics.Matrix
import android.graphics.PointF
import android.graphics.RectF
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import com.google.android.gms.tasks.Tasks
import com.google.mlkit.vision.common.InputImage
import com.google.mlkit.vision.face.Face
import com.google.mlkit.vision.face.FaceDetection
import com.google.mlkit.vision.face.FaceDetectorOptions
import com.google.mlkit.vision.face.FaceLandmark
import org.kerasdmtl.unlock.FaceAlignment
import org.kerasdmtl.unlock.QualityGate
import org.kerasdmtl.unlock.RgbImage

/** One analysed camera frame: no face, or the largest face with what the model saw. */
class FaceFrame(
    val frameWidth: Int,
    val frameHeight: Int,
    val box: RectF?,
    /** Why the frame is not good enough to enroll (QualityGate), or null. */
    val qualityProblem: String?,
    /** Null when there is no face, or when the caller asked not to run the model. */
    val analysis: FaceAnalysis?,
)

/**
 * CameraX analyzer: upright frame -> ML Kit face and landmarks -> the same crop as
 * training (unlock-core's FaceAlignment) -> the model. Runs on the analysis executor;
 * [onFrame] is called there too (post to the UI thread to draw).
 *
 * @param shouldRunModel asked per frame: false skips the model (e.g. while locked out).
 */
class FaceAnalyzer(
    private val model: FaceModel,
    private val gate: QualityGate,
    private val shouldRunModel: () -> Boolean,
    private val onFrame: (FaceFrame) -> Unit,
) : ImageAnalysis.Analyzer {
    private val detector = FaceDetection.getClient(
        FaceDetectorOptions.Builder()
            .setPerformanceMode(FaceDetectorOptions.PERFORMANCE_MODE_FAST)
            .setLandmarkMode(FaceDetectorOptions.LANDMARK_MODE_ALL)
            .setClassificationMode(FaceDetectorOptions.CLASSIFICATION_MODE_NONE)
            .setMinFaceSize(0.15f)
            .build(),
    )

    override fun analyze(image: ImageProxy) {
        val frame = try {
            upright(image)
        } finally {
            image.close()
        }
        // Blocking is fine here: this is the analysis executor, not the UI thread.
        val faces = Tasks.await(detector.process(InputImage.fromBitmap(frame, 0)))
        val face = faces.maxByOrNull { it.boundingBox.width() * it.boundingBox.height() }
        if (face == null) {
            onFrame(FaceFrame(frame.width, frame.height, null, null, null))
            return
        }
        val pixels = IntArray(frame.width * frame.height)
        frame.getPixels(pixels, 0, frame.width, 0, 0, frame.width, frame.height)
        val rgb = RgbImage.fromArgb(pixels, frame.width, frame.height)
        val manifest = model.manifest
        val bounds = face.boundingBox
        val box = doubleArrayOf(
            bounds.left.toDouble(), bounds.top.toDouble(),
            bounds.width().toDouble(), bounds.height().toDouble(),
        )
        val landmarks = trainingOrderLandmarks(face)
        val input = if (landmarks != null) {
            FaceAlignment.alignedInput(rgb, landmarks, manifest)
        } else {
            FaceAlignment.boxInput(rgb, box, manifest)
        }
        val problem = gate.problem(box, frame.width, frame.height, input, manifest.height, manifest.channels)
        val analysis = if (shouldRunModel()) model.analyse(input) else null
        onFrame(FaceFrame(frame.width, frame.height, RectF(bounds), problem, analysis))
    }

    fun close() = detector.close()

    /** The frame as the user sees it: rotated upright (front-camera frames are not mirrored). */
    private fun upright(image: ImageProxy): Bitmap {
        val bitmap = image.toBitmap()
        val degrees = image.imageInfo.rotationDegrees
        if (degrees == 0) return bitmap
        val rotation = Matrix().apply { postRotate(degrees.toFloat()) }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, rotation, true)
    }

    /**
     * The 5 landmarks in training's order: image-left eye, image-right eye, nose,
     * image-left mouth corner, image-right mouth corner. ML Kit names them from the
     * subject's side, which flips with mirroring, so the pairs are ordered by x.
     */
    private fun trainingOrderLandmarks(face: Face): Array<DoubleArray>? {
        fun point(type: Int): PointF? = face.getLandmark(type)?.position
        val eyes = listOf(point(FaceLandmark.LEFT_EYE), point(FaceLandmark.RIGHT_EYE))
        val mouth = listOf(point(FaceLandmark.MOUTH_LEFT), point(FaceLandmark.MOUTH_RIGHT))
        val nose = point(FaceLandmark.NOSE_BASE)
        if (eyes.any { it == null } || mouth.any { it == null } || nose == null) return null
        val ordered = eyes.filterNotNull().sortedBy { it.x } + nose + mouth.filterNotNull().sortedBy { it.x }
        return ordered.map { doubleArrayOf(it.x.toDouble(), it.y.toDouble()) }.toTypedArray()
    }
}

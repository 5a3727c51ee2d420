package org.kerasdmtl.unlockdemo

import android.Manifest
import android.content.pm.PackageManager
import android.os.Bundle
import android.widget.Toast
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.core.content.ContextCompat
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.kerasdmtl.unlock.QualityGate
import org.kerasdmtl.unlockdemo.databinding.ActivityCameraBinding

/**
 * Front camera preview plus a face analyzer; subclasses decide what a frame means
 * (enroll or unlock) in [onFrame], which runs on the UI thread.
 */
abstract class CameraActivity : AppCompatActivity() {
    protected lateinit var binding: ActivityCameraBinding
    protected lateinit var model: FaceModel
    protected lateinit var vault: TemplateVault
    protected val user: String by lazy { intent.getStringExtra(EXTRA_USER).orEmpty() }
    private lateinit var analyzer: FaceAnalyzer
    private val analysisExecutor: ExecutorService = Executors.newSingleThreadExecutor()

    private val cameraPermission =
        registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
            if (granted) startCamera() else fail(getString(R.string.camera_denied))
        }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        binding = ActivityCameraBinding.inflate(layoutInflater)
        setContentView(binding.root)
        vault = TemplateVault(this)
        model = try {
            FaceModel.load(this)
        } catch (error: IllegalStateException) {
            fail(error.message ?: getString(R.string.missing_assets))
            return
        }
        analyzer = FaceAnalyzer(model, QualityGate.defaults(), ::shouldRunModel) { frame ->
            runOnUiThread { if (!isFinishing) onFrame(frame) }
        }
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            cameraPermission.launch(Manifest.permission.CAMERA)
        }
    }

    /** Whether the next frame's face should go through the model. */
    protected open fun shouldRunModel(): Boolean = true

    /** Handles one analysed frame, on the UI thread. */
    protected abstract fun onFrame(frame: FaceFrame)

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val preview = Preview.Builder().build().also {
                it.setSurfaceProvider(binding.preview.surfaceProvider)
            }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
                .also { it.setAnalyzer(analysisExecutor, analyzer) }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_FRONT_CAMERA, preview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    protected fun fail(message: String) {
        Toast.makeText(this, message, Toast.LENGTH_LONG).show()
        finish()
    }

    override fun onDestroy() {
        super.onDestroy()
        if (::analyzer.isInitialized) analyzer.close()
        // Closed on the analysis thread, after any frame still in flight.
        if (::model.isInitialized) analysisExecutor.execute { model.close() }
        analysisExecutor.shutdown()
    }

    companion object {
        const val EXTRA_USER = "user"
    }
}

package org.kerasdmtl.unlockdemo

import android.content.Context
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.TensorBuffer
import java.io.FileNotFoundException
import org.kerasdmtl.unlock.Manifest
import org.kerasdmtl.unlock.Templates

/** What the model saw in one face: its embedding and its expression. */
class FaceAnalysis(
    val embedding: DoubleArray,
    val expression: String,
    val expressionConfidence: Float,
)

/**
 * The exported int8 model on LiteRT's CPU accelerator (XNNPACK), run through its
 * `serving_default` signature: float pixels 0..255 in, embedding and expression out.
 *
 * Not thread-safe: one analyzer thread calls [analyse].
 */
class FaceModel private constructor(
    context: Context,
    val manifest: Manifest,
    format: String,
) : AutoCloseable {
    private val entry = manifest.format(format)
    private val model = CompiledModel.create(
        context.assets,
        entry.file,
        CompiledModel.Options(Accelerator.CPU).apply {
            cpuOptions = CompiledModel.CpuOptions(numThreads = 2)
        },
    )
    private val input = model.createInputBuffer(inputName = INPUT, signature = SIGNATURE)
    private val outputs: Map<String, TensorBuffer> = OUTPUTS.associateWith {
        model.createOutputBuffer(outputName = it, signature = SIGNATURE)
    }

    /** The verification threshold calibrated for this format at the manifest's FAR. */
    val threshold: Double get() = entry.threshold

    /** Runs the model on one input made by [org.kerasdmtl.unlock.FaceAlignment]. */
    fun analyse(modelInput: FloatArray): FaceAnalysis {
        input.writeFloat(modelInput)
        model.run(mapOf(INPUT to input), outputs, SIGNATURE)
        val embedding = outputs.getValue("embedding").readFloat()
        val probabilities = outputs.getValue("expression_probabilities").readFloat()
        val label = outputs.getValue("expression_label").readInt()[0]
        return FaceAnalysis(
            Templates.toDouble(embedding),
            manifest.expressionLabels[label],
            probabilities[label],
        )
    }

    override fun close() {
        (outputs.values + input).forEach { it.close() }
        model.close()
    }

    companion object {
        private const val SIGNATURE = "serving_default"
        private const val INPUT = "images"
        private val OUTPUTS = listOf("embedding", "expression_probabilities", "expression_label")
        const val MANIFEST_ASSET = "manifest.json"

        /**
         * Loads `assets/manifest.json` and the model file it names for [format].
         *
         * @throws IllegalStateException naming the missing asset and how to add it.
         */
        fun load(context: Context, format: String = "tflite_int8"): FaceModel {
            val manifest = try {
                context.assets.open(MANIFEST_ASSET).bufferedReader().use { Manifest.parse(it.readText()) }
            } catch (missing: FileNotFoundException) {
                throw IllegalStateException(context.getString(R.string.missing_assets), missing)
            }
            val file = manifest.format(format).file
            try {
                context.assets.openFd(file).close()
            } catch (missing: FileNotFoundException) {
                throw IllegalStateException(context.getString(R.string.missing_assets), missing)
            }
            return FaceModel(context, manifest, format)
        }
    }
}

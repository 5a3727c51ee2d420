package org.kerasdmtl.unlockdemo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.graphics.RectF
import android.util.AttributeSet
import android.view.View

/**
 * Draws the face box and a label over the front-camera preview. The preview is mirrored
 * and centre-cropped (PreviewView FILL_CENTER); frame coordinates are mapped the same way.
 */
class OverlayView(context: Context, attrs: AttributeSet?) : View(context, attrs) {
    private var box: RectF? = null
    private var label: String = ""
    private var frameWidth = 1
    private var frameHeight = 1
    private var accepted = false

    private val boxPaint = Paint().apply {
        style = Paint.Style.STROKE
        strokeWidth = 6f
    }
    private val textPaint = Paint().apply {
        color = Color.WHITE
        textSize = 48f
        setShadowLayer(4f, 0f, 0f, Color.BLACK)
    }

    /** Shows [box] (frame pixels) with [label]; green when [accepted]. */
    fun show(box: RectF?, label: String, frameWidth: Int, frameHeight: Int, accepted: Boolean) {
        this.box = box
        this.label = label
        this.frameWidth = frameWidth
        this.frameHeight = frameHeight
        this.accepted = accepted
        invalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        val face = box ?: return
        val scale = maxOf(width.toFloat() / frameWidth, height.toFloat() / frameHeight)
        val dx = (width - frameWidth * scale) / 2f
        val dy = (height - frameHeight * scale) / 2f
        val left = width - (face.right * scale + dx)
        val right = width - (face.left * scale + dx)
        val mapped = RectF(left, face.top * scale + dy, right, face.bottom * scale + dy)
        boxPaint.color = if (accepted) Color.GREEN else Color.YELLOW
        canvas.drawRect(mapped, boxPaint)
        canvas.drawText(label, mapped.left, mapped.top - 16f, textPaint)
    }
}

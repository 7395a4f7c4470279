// Slipway model wrapper for Android: TensorFlow Lite / LiteRT for .tflite exports,
// ONNX Runtime Android for .onnx exports, with the exact pre- and post-processing of
// the original model. Everything model-specific (input size and layout, resize method,
// normalization, colour order, output layout, NMS settings, class names) is read from
// metadata.json at run time.
package ai.slipway.model

import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtSession
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.graphics.RectF
import org.json.JSONObject
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer
import kotlin.math.exp
import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min
import kotlin.math.rint

data class Prediction(
    val classId: Int,
    val className: String,
    val confidence: Float,
    val bbox: FloatArray? = null, // absolute x1, y1, x2, y2 in the original image; null for classifiers
)

/** How a resized image maps back to the original: x = (x' - padX) / gainX. */
data class Transform(val gainX: Float, val gainY: Float, val padX: Float, val padY: Float)

class ModelWrapper(modelFile: File, metadataJson: String) : AutoCloseable {
    private val meta = JSONObject(metadataJson)
    private val task = meta.getJSONObject("model_info").getString("task")
    private val pre = meta.getJSONObject("preprocessing")
    private val resizeSpec = pre.getJSONObject("resize")
    private val resizeMethod = resizeSpec.getString("method")
    private val height = resizeSpec.getJSONArray("size").getInt(0)
    private val width = resizeSpec.getJSONArray("size").getInt(1)
    private val fillValue = resizeSpec.optInt("fill_value", 114)
    private val cropPct = resizeSpec.optDouble("crop_pct", 1.0)
    private val normalize = pre.getJSONObject("normalize")
    private val scale = normalize.optDouble("scale", 1.0 / 255.0).toFloat()
    private val mean = FloatArray(3) { normalize.optJSONArray("mean")?.optDouble(it, 0.0)?.toFloat() ?: 0f }
    private val std = FloatArray(3) { normalize.optJSONArray("std")?.optDouble(it, 1.0)?.toFloat() ?: 1f }
    private val bgr = pre.optJSONObject("format")?.optString("color_space", "RGB") == "BGR"
    private val embedded = pre.optBoolean("embedded", false)
    private val inputSpec = meta.getJSONObject("input_spec")
    private val nhwc = inputSpec.optString("format", "NCHW") != "NCHW"
    private val post = meta.getJSONObject("postprocessing")
    private val postType = post.getString("type")
    private val nmsSpec = post.optJSONObject("nms") ?: JSONObject()
    private val nmsInModel = nmsSpec.optBoolean("in_model", postType == "yolo_nms")
    private val defaultConf = nmsSpec.optDouble("confidence_threshold", 0.25).toFloat()
    private val defaultIou = nmsSpec.optDouble("iou_threshold", 0.7).toFloat()
    private val maxDetections = nmsSpec.optInt("max_detections", 300)
    private val classAgnostic = nmsSpec.optBoolean("class_agnostic", false)
    private val topK = post.optInt("top_k", 5)
    val classNames: List<String> = meta.getJSONArray("classes").let { classes ->
        (0 until classes.length()).map { classes.getJSONObject(it) }
            .sortedBy { it.getInt("id") }.map { it.getString("name") }
    }
    private val outputNames: List<String> = meta.getJSONObject("output_spec").getJSONArray("outputs").let { o ->
        (0 until o.length()).map { o.getJSONObject(it).let { out -> out.optString("runtime_name", out.getString("name")) } }
    }

    private val tflite: Interpreter? = if (modelFile.extension == "tflite") Interpreter(modelFile) else null
    private val ortEnv: OrtEnvironment? = if (modelFile.extension == "onnx") OrtEnvironment.getEnvironment() else null
    private val ortSession: OrtSession? = ortEnv?.createSession(modelFile.absolutePath, OrtSession.SessionOptions())

    fun predict(image: Bitmap, conf: Float? = null, iou: Float? = null): List<Prediction> {
        val (resized, t) = resize(image)
        val output = run(resized)
        if (task == "classify") return classify(output.first)
        return detect(output.first, output.second, t, image.height, image.width, conf ?: defaultConf, iou ?: defaultIou)
    }

    // --- pre-processing ---------------------------------------------------

    fun resize(image: Bitmap): Pair<Bitmap, Transform> {
        val h = image.height.toDouble()
        val w = image.width.toDouble()
        val out = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
        val canvas = Canvas(out)
        val paint = Paint(Paint.FILTER_BITMAP_FLAG)
        val t: Transform
        when (resizeMethod) {
            "letterbox" -> { // keep the aspect ratio, pad with fill_value, centred
                val gain = min(height / h, width / w)
                val newW = max(rint(w * gain), 1.0)
                val newH = max(rint(h * gain), 1.0)
                val left = rint((width - newW) / 2 - 0.1)
                val top = rint((height - newH) / 2 - 0.1)
                canvas.drawColor(Color.rgb(fillValue, fillValue, fillValue))
                canvas.drawBitmap(image, null, RectF(left.toFloat(), top.toFloat(), (left + newW).toFloat(), (top + newH).toFloat()), paint)
                t = Transform((newW / w).toFloat(), (newH / h).toFloat(), left.toFloat(), top.toFloat())
            }
            "resize" -> {
                canvas.drawBitmap(image, null, RectF(0f, 0f, width.toFloat(), height.toFloat()), paint)
                t = Transform((width / w).toFloat(), (height / h).toFloat(), 0f, 0f)
            }
            "shorter_side_center_crop" -> {
                val shorter = floor(min(height, width) / cropPct)
                val newW = if (w <= h) shorter else floor(shorter * w / h)
                val newH = if (w <= h) floor(shorter * h / w) else shorter
                val left = rint((newW - width) / 2)
                val top = rint((newH - height) / 2)
                canvas.drawBitmap(image, null, RectF(-left.toFloat(), -top.toFloat(), (newW - left).toFloat(), (newH - top).toFloat()), paint)
                t = Transform((newW / w).toFloat(), (newH / h).toFloat(), -left.toFloat(), -top.toFloat())
            }
            else -> throw IllegalArgumentException("unknown resize method in metadata.json: $resizeMethod")
        }
        return Pair(out, t)
    }

    /** (x * scale - mean) / std per channel, in the channel order and layout the model takes. */
    fun toTensor(image: Bitmap): FloatArray {
        val pixels = IntArray(width * height)
        image.getPixels(pixels, 0, width, 0, 0, width, height)
        val values = FloatArray(3 * width * height)
        for (i in pixels.indices) {
            val rgb = intArrayOf(Color.red(pixels[i]), Color.green(pixels[i]), Color.blue(pixels[i]))
            for (c in 0 until 3) {
                val source = if (bgr) 2 - c else c
                val raw = rgb[source].toFloat()
                val value = if (embedded) raw else (raw * scale - mean[source]) / std[source]
                values[if (nhwc || embedded) i * 3 + c else c * width * height + i] = value
            }
        }
        return values
    }

    /** The first output's values and shape. */
    private fun run(image: Bitmap): Pair<FloatArray, IntArray> {
        val values = toTensor(image)
        tflite?.let { interpreter ->
            val input = ByteBuffer.allocateDirect(values.size * 4).order(ByteOrder.nativeOrder())
            input.asFloatBuffer().put(values)
            val index = outputNames.firstOrNull()?.let { name ->
                (0 until interpreter.outputTensorCount).firstOrNull { interpreter.getOutputTensor(it).name() == name }
            } ?: 0
            val shape = interpreter.getOutputTensor(index).shape()
            val output = ByteBuffer.allocateDirect(shape.fold(4) { a, b -> a * b }).order(ByteOrder.nativeOrder())
            interpreter.runForMultipleInputsOutputs(arrayOf(input), mapOf(index to output))
            output.rewind()
            val result = FloatArray(output.capacity() / 4)
            output.asFloatBuffer().get(result)
            return Pair(result, shape)
        }
        val session = ortSession ?: throw IllegalStateException("no runtime for this model file")
        val shape = if (nhwc || embedded) longArrayOf(1, height.toLong(), width.toLong(), 3)
                    else longArrayOf(1, 3, height.toLong(), width.toLong())
        val tensor = if (embedded) {
            OnnxTensor.createTensor(ortEnv, ByteBuffer.wrap(ByteArray(values.size) { values[it].toInt().toByte() }),
                                    shape, ai.onnxruntime.OnnxJavaType.UINT8)
        } else {
            OnnxTensor.createTensor(ortEnv, FloatBuffer.wrap(values), shape)
        }
        tensor.use {
            session.run(mapOf(session.inputNames.first() to it)).use { result ->
                val out = result.get(0) as OnnxTensor
                val buffer = out.floatBuffer
                val data = FloatArray(buffer.remaining())
                buffer.get(data)
                return Pair(data, out.info.shape.map { d -> d.toInt() }.toIntArray())
            }
        }
    }

    // --- post-processing --------------------------------------------------

    private fun classify(output: FloatArray): List<Prediction> {
        var scores = output.map { it.toDouble() }
        if (postType == "logits") { // softmax
            val top = scores.maxOrNull() ?: 0.0
            val e = scores.map { exp(it - top) }
            val sum = e.sum()
            scores = e.map { it / sum }
        }
        return scores.indices.sortedByDescending { scores[it] }.take(topK)
            .map { Prediction(it, name(it), scores[it].toFloat()) }
    }

    private fun detect(out: FloatArray, shape: IntArray, t: Transform, imageH: Int, imageW: Int,
                       conf: Float, iou: Float): List<Prediction> {
        val boxes = ArrayList<FloatArray>()
        val scores = ArrayList<Float>()
        val classes = ArrayList<Int>()
        val keep: List<Int>
        if (nmsInModel || postType == "yolo_nms") { // NMS inside the model: rows of x1, y1, x2, y2, score, class
            val cols = shape[2]
            for (r in 0 until shape[1]) {
                val row = r * cols
                if (out[row + 4] <= conf) continue
                boxes.add(floatArrayOf(out[row], out[row + 1], out[row + 2], out[row + 3]))
                scores.add(out[row + 4])
                classes.add(out[row + 5].toInt())
            }
            keep = scores.indices.sortedByDescending { scores[it] }
        } else { // raw head (1, 4 + classes, anchors): cx, cy, w, h in input pixels, then class scores
            val anchors = shape[2]
            for (a in 0 until anchors) {
                var best = out[4 * anchors + a]
                var bestClass = 0
                for (c in 1 until classNames.size) {
                    val s = out[(4 + c) * anchors + a]
                    if (s > best) { best = s; bestClass = c }
                }
                if (best <= conf) continue
                val cx = out[a]; val cy = out[anchors + a]
                val hw = out[2 * anchors + a] / 2; val hh = out[3 * anchors + a] / 2
                boxes.add(floatArrayOf(cx - hw, cy - hh, cx + hw, cy + hh))
                scores.add(best)
                classes.add(bestClass)
            }
            val offset = if (classAgnostic) 0f else 7680f
            keep = nms(boxes.mapIndexed { i, b -> FloatArray(4) { b[it] + classes[i] * offset } }, scores, iou)
        }
        return keep.take(maxDetections).map { k ->
            val b = boxes[k]
            val x = { v: Float -> ((v - t.padX) / t.gainX).coerceIn(0f, imageW.toFloat()) }
            val y = { v: Float -> ((v - t.padY) / t.gainY).coerceIn(0f, imageH.toFloat()) }
            Prediction(classes[k], name(classes[k]), scores[k], floatArrayOf(x(b[0]), y(b[1]), x(b[2]), y(b[3])))
        }
    }

    private fun name(id: Int): String = if (id < classNames.size) classNames[id] else id.toString()

    override fun close() {
        tflite?.close()
        ortSession?.close()
    }

    companion object {
        /** Greedy non-maximum suppression on xyxy boxes; kept indices, best first. */
        fun nms(boxes: List<FloatArray>, scores: List<Float>, threshold: Float): List<Int> {
            val order = scores.indices.sortedByDescending { scores[it] }
            val removed = BooleanArray(boxes.size)
            val keep = ArrayList<Int>()
            for ((n, i) in order.withIndex()) {
                if (removed[i]) continue
                keep.add(i)
                val a = boxes[i]
                val areaA = max(a[2] - a[0], 0f) * max(a[3] - a[1], 0f)
                for (j in order.subList(n + 1, order.size)) {
                    if (removed[j]) continue
                    val b = boxes[j]
                    val inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0f) * max(min(a[3], b[3]) - max(a[1], b[1]), 0f)
                    val areaB = max(b[2] - b[0], 0f) * max(b[3] - b[1], 0f)
                    if (inter / (areaA + areaB - inter + 1e-9f) > threshold) removed[j] = true
                }
            }
            return keep
        }
    }
}

// Slipway model wrapper for Android: TensorFlow Lite / LiteRT for .tflite exports,
// ONNX Runtime Android for .onnx exports, with the exact pre- and post-processing of
// the original model. Everything model-specific (the preprocessing steps, input layout,
// normalization, colour order, output layout, decoding and NMS settings, class names) is
// read from metadata.json at run time; the steps run in Preprocessing.kt, the decoding in
// Postprocessing.kt.
package ai.slipway.model

import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtSession
import android.graphics.Bitmap
import org.json.JSONObject
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer

class ModelWrapper(modelFile: File, metadataJson: String) : AutoCloseable {
    private val meta = JSONObject(metadataJson)
    private val task = meta.getJSONObject("model_info").getString("task")
    private val pre = meta.getJSONObject("preprocessing")
    private val preprocessor = Preprocessor(pre.getJSONArray("steps")) // schema 2
    private val normalize = pre.getJSONObject("normalize")
    private val scale = normalize.optDouble("scale", 1.0 / 255.0).toFloat()
    private val mean = FloatArray(3) { normalize.optJSONArray("mean")?.optDouble(it, 0.0)?.toFloat() ?: 0f }
    private val std = FloatArray(3) { normalize.optJSONArray("std")?.optDouble(it, 1.0)?.toFloat() ?: 1f }
    private val bgr = pre.optJSONObject("format")?.optString("color_space", "RGB") == "BGR"
    private val embedded = pre.optBoolean("embedded", false)
    private val inputSpec = meta.getJSONObject("input_spec")
    private val nhwc = inputSpec.optString("format", "NCHW") != "NCHW"
    val classNames: List<String> = meta.getJSONArray("classes").let { classes ->
        (0 until classes.length()).map { classes.getJSONObject(it) }
            .sortedBy { it.getInt("id") }.map { it.getString("name") }
    }
    private val postprocessor = Postprocessor(meta.getJSONObject("postprocessing"), classNames)
    private val outputSpecs: List<JSONObject> = meta.getJSONObject("output_spec").getJSONArray("outputs").let { o ->
        (0 until o.length()).map { o.getJSONObject(it) }
    }
    private val outputNames = outputSpecs.map { it.optString("runtime_name", it.getString("name")) }
    private val nhwcOutputs = outputSpecs.map { it.optString("layout", "") == "NHWC" } // TFLite: turned back to NCHW

    private val tflite: Interpreter? = if (modelFile.extension == "tflite") Interpreter(modelFile) else null
    private val ortEnv: OrtEnvironment? = if (modelFile.extension == "onnx") OrtEnvironment.getEnvironment() else null
    private val ortSession: OrtSession? = ortEnv?.createSession(modelFile.absolutePath, OrtSession.SessionOptions())

    /** masks: compute instance masks (segment) and per-class masks (semantic). */
    fun predict(image: Bitmap, conf: Float? = null, iou: Double? = null, masks: Boolean = false): List<Prediction> {
        val (outputs, t) = run(RgbImage.fromBitmap(image))
        return postprocessor.decode(outputs, t, image.height, image.width, conf, iou, masks)
    }

    /** Semantic models: the class of every pixel (row-major, the image's size). */
    fun classMap(image: Bitmap): IntArray {
        val (outputs, t) = run(RgbImage.fromBitmap(image))
        return postprocessor.classMap(outputs, t, image.height, image.width).first
    }

    /** Pre-process and run the model: its outputs and the transform back to the image. */
    private fun run(rgb: RgbImage): Pair<List<Tensor>, Transform> {
        val (prepared, applied) = preprocessor.apply(rgb)
        return Pair(infer(prepared), applied.copy(width = prepared.width, height = prepared.height))
    }

    // --- pre-processing ---------------------------------------------------

    /** (x * scale - mean) / std per channel, in the channel order and layout the model takes. */
    fun toTensor(image: RgbImage): FloatArray {
        val count = image.width * image.height
        val mul = FloatArray(3) { scale / std[it] }
        val add = FloatArray(3) { -mean[it] / std[it] }
        val values = FloatArray(3 * count)
        for (i in 0 until count) {
            for (c in 0 until 3) {
                val source = if (bgr) 2 - c else c
                val raw = image.pixels[i * 3 + source].toFloat()
                val value = if (embedded) raw else raw * mul[source] + add[source]
                values[if (nhwc || embedded) i * 3 + c else c * count + i] = value
            }
        }
        return values
    }

    /** Every output of the model, as float32 in NCHW, in output_spec's order (ONNX: the graph's). */
    private fun infer(image: RgbImage): List<Tensor> {
        val values = toTensor(image)
        tflite?.let { interpreter ->
            val input = ByteBuffer.allocateDirect(values.size * 4).order(ByteOrder.nativeOrder())
            input.asFloatBuffer().put(values)
            val indices = outputNames.mapIndexed { n, name ->
                (0 until interpreter.outputTensorCount).firstOrNull { interpreter.getOutputTensor(it).name() == name } ?: n
            }
            val buffers = indices.associateWith { index ->
                ByteBuffer.allocateDirect(interpreter.getOutputTensor(index).numBytes()).order(ByteOrder.nativeOrder())
            }
            interpreter.runForMultipleInputsOutputs(arrayOf(input), buffers)
            return indices.mapIndexed { n, index ->
                val tensor = interpreter.getOutputTensor(index)
                val buffer = buffers.getValue(index)
                buffer.rewind()
                val count = tensor.numElements()
                val q = tensor.quantizationParams() // an integer model: dequantize with its own parameters
                val data = when (tensor.dataType()) {
                    DataType.FLOAT32 -> FloatArray(count).also { buffer.asFloatBuffer().get(it) }
                    DataType.UINT8 -> FloatArray(count) { ((buffer.get(it).toInt() and 0xff) - q.zeroPoint) * q.scale }
                    DataType.INT8 -> FloatArray(count) { (buffer.get(it) - q.zeroPoint) * q.scale }
                    else -> throw IllegalStateException("output ${outputNames[n]} is ${tensor.dataType()}, not float or 8-bit")
                }
                val shape = tensor.shape()
                if (nhwcOutputs.getOrElse(n) { false } && shape.size == 4) nchw(shape, data) else Tensor(shape, data)
            }
        }
        val session = ortSession ?: throw IllegalStateException("no runtime for this model file")
        val shape = if (nhwc || embedded) longArrayOf(1, image.height.toLong(), image.width.toLong(), 3)
                    else longArrayOf(1, 3, image.height.toLong(), image.width.toLong())
        val tensor = if (embedded) {
            OnnxTensor.createTensor(ortEnv, ByteBuffer.wrap(ByteArray(values.size) { values[it].toInt().toByte() }),
                                    shape, ai.onnxruntime.OnnxJavaType.UINT8)
        } else {
            OnnxTensor.createTensor(ortEnv, FloatBuffer.wrap(values), shape)
        }
        tensor.use {
            session.run(mapOf(session.inputNames.first() to it)).use { result ->
                return (0 until result.size()).map { i ->
                    val out = result.get(i) as OnnxTensor
                    val buffer = out.floatBuffer
                    val data = FloatArray(buffer.remaining())
                    buffer.get(data)
                    Tensor(out.info.shape.map { d -> d.toInt() }.toIntArray(), data)
                }
            }
        }
    }

    /** A (1, h, w, c) output as (1, c, h, w). */
    private fun nchw(shape: IntArray, data: FloatArray): Tensor {
        val (n, h, w, c) = shape
        val out = FloatArray(data.size)
        for (b in 0 until n) for (y in 0 until h) for (x in 0 until w) for (k in 0 until c) {
            out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k]
        }
        return Tensor(intArrayOf(n, c, h, w), out)
    }

    override fun close() {
        tflite?.close()
        ortSession?.close()
    }
}

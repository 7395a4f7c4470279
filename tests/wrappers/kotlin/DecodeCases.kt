// Test harness (never shipped): decodes the raw output tensors of each case folder with the
// package's Postprocessing.kt, as `slipway_example --decode` does with the C++ wrapper, and
// prints one JSON line per case: {"case", "predictions", "masks", "class_map"}. A case folder
// holds metadata.json and case.json ({"outputs": [{"file", "shape"}], "transform",
// "image_size", "conf"?, "iou"?}) naming raw little-endian float32 files; every mask is
// written as kotlin.mask<n>.bin (one byte per pixel, 0 / 1), a semantic class map as
// kotlin.class_map.bin (little-endian int32).
import ai.slipway.model.Postprocessor
import ai.slipway.model.Prediction
import ai.slipway.model.Tensor
import ai.slipway.model.Transform
import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

fun readTensor(folder: File, spec: JSONObject): Tensor {
    val dims = spec.getJSONArray("shape")
    val shape = IntArray(dims.length()) { dims.getInt(it) }
    val bytes = File(folder, spec.getString("file")).readBytes()
    val data = FloatArray(bytes.size / 4)
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data)
    return Tensor(shape, data)
}

fun floats(values: FloatArray): JSONArray = JSONArray().also { a -> values.forEach { a.put(it.toDouble()) } }

fun prediction(p: Prediction): JSONObject {
    val item = JSONObject().put("class_id", p.classId).put("class_name", p.className)
        .put("confidence", p.confidence.toDouble())
    p.bbox?.let { item.put("bbox", floats(it)) }
    p.area?.let { item.put("area", it.toDouble()) }
    p.rbox?.let { item.put("rbox", floats(it)) }
    p.polygon?.let { corners -> item.put("polygon", JSONArray().also { a -> corners.forEach { a.put(floats(it)) } }) }
    p.keypoints?.let { points -> item.put("keypoints", JSONArray().also { a -> points.forEach { a.put(floats(it)) } }) }
    p.mask?.let { item.put("mask", JSONObject().put("height", it.height).put("width", it.width).put("pixels", it.count)) }
    return item
}

fun main(args: Array<String>) {
    for (path in args) {
        val folder = File(path)
        val meta = JSONObject(File(folder, "metadata.json").readText())
        val case = JSONObject(File(folder, "case.json").readText())
        val classes = meta.getJSONArray("classes")
        val names = (0 until classes.length()).map { classes.getJSONObject(it) }.sortedBy { it.getInt("id") }
            .map { it.getString("name") }
        val post = Postprocessor(meta.getJSONObject("postprocessing"), names)
        val specs = case.getJSONArray("outputs")
        val outputs = (0 until specs.length()).map { readTensor(folder, specs.getJSONObject(it)) }
        val t = case.getJSONObject("transform")
        val transform = Transform(t.getDouble("gain_x").toFloat(), t.getDouble("gain_y").toFloat(),
                                  t.getDouble("pad_x").toFloat(), t.getDouble("pad_y").toFloat(),
                                  t.getInt("width"), t.getInt("height"))
        val size = case.getJSONArray("image_size")
        val h = size.getInt(0)
        val w = size.getInt(1)
        val conf = if (case.has("conf")) case.getDouble("conf").toFloat() else null
        val iou = if (case.has("iou")) case.getDouble("iou") else null
        val found = post.decode(outputs, transform, h, w, conf, iou, true)
        val masks = JSONArray()
        found.forEachIndexed { n, p ->
            val mask = p.mask
            if (mask == null) {
                masks.put(JSONObject.NULL)
            } else {
                val file = File(folder, "kotlin.mask$n.bin")
                file.writeBytes(ByteArray(mask.pixels.size) { if (mask.pixels[it]) 1 else 0 })
                masks.put(file.path)
            }
        }
        val line = JSONObject().put("case", path).put("predictions", JSONArray().also { a -> found.forEach { a.put(prediction(it)) } })
            .put("masks", masks)
        if (post.spec.type == "semantic_logits") {
            val labels = post.classMap(outputs, transform, h, w).first
            val buffer = ByteBuffer.allocate(labels.size * 4).order(ByteOrder.LITTLE_ENDIAN)
            labels.forEach { buffer.putInt(it) }
            val file = File(folder, "kotlin.class_map.bin")
            file.writeBytes(buffer.array())
            line.put("class_map", file.path)
        }
        println(line.toString())
    }
}

// Slipway post-processing for Android: raw model outputs -> predictions in the original
// image, for every postprocessing type of metadata.json (core/metadata.py), exactly as the
// Python wrapper decodes them:
//   logits / probabilities          top-k classes
//   yolo_detect|segment|pose|obb    the anchor grid: confidence filter, class-aware NMS
//                                   (rotated boxes: probiou Fast-NMS), keypoints, masks
//   yolo_nms / yolo_end2end         rows of final detections (xyxy | xywh | xywhr, normalized)
//   set_prediction                  DETR-style queries: softmax | sigmoid top-k | max
//   semantic_logits                 per-pixel logits resampled onto the image, per-class segments
// Float where the Python wrapper computes in float32, Double where it computes in float64.
// Plain Kotlin and org.json only (no Android API), so it runs on any JVM: the tests compile it
// with Debian's Kotlin 1.3 and compare it with the Python wrapper.
package ai.slipway.model

import org.json.JSONObject
import kotlin.math.cos
import kotlin.math.exp
import kotlin.math.floor
import kotlin.math.ln
import kotlin.math.max
import kotlin.math.min
import kotlin.math.round
import kotlin.math.sin
import kotlin.math.sqrt

/** One prediction, in the Python wrapper's shape:
 *  classify: one of the top-k classes (bbox null);
 *  detect / segment / pose / obb: bbox is absolute x1, y1, x2, y2 in the original image (obb: the
 *  rotated box's bounds, with rbox and polygon); keypoints for pose; mask for segment when asked for;
 *  semantic: one class present in the image, bbox its extent, area its share of the image. */
data class Prediction(
    val classId: Int,
    val className: String,
    val confidence: Float,
    val bbox: FloatArray? = null,
    val rbox: FloatArray? = null, // obb: cx, cy, w, h, angle (radians) in the original image
    val polygon: List<FloatArray>? = null, // obb: the four corners, in Ultralytics' order
    val keypoints: List<FloatArray>? = null, // pose: [x, y(, visibility)] per keypoint
    val mask: Mask? = null, // segment / semantic, when asked for: the original image's size
    val area: Float? = null // semantic: the fraction of the image's pixels
)

/** How the preprocessed image maps back to the original: x = (x' - padX) / gainX; width and
 * height are the model input's (what normalized boxes and masks scale to). */
data class Transform(val gainX: Float, val gainY: Float, val padX: Float, val padY: Float,
                     val width: Int = 0, val height: Int = 0)

/** A model output: its shape and float32 values, row-major (a batch of one). */
class Tensor(val shape: IntArray, val data: FloatArray)

/** A mask the size of the original image, row-major: true inside. */
class Mask(val width: Int, val height: Int, val pixels: BooleanArray) {
    /** How many pixels it covers. */
    val count: Int get() = pixels.count { it }
}

/** metadata.json's postprocessing section. */
class PostprocessingSpec(post: JSONObject) {
    val type: String = post.optString("type", "")

    init {
        require(type in TYPES) { "unknown postprocessing type in metadata.json: '$type'" }
    }

    val decodedType: String = post.optString("decoded_type", type)
    private val nms: JSONObject = post.optJSONObject("nms") ?: JSONObject()
    val confidenceThreshold: Float = // nms.confidence_threshold, or confidence_threshold
        nms.optDouble("confidence_threshold", post.optDouble("confidence_threshold", 0.25)).toFloat()
    val iouThreshold: Double = nms.optDouble("iou_threshold", 0.7)
    val maxDetections: Int = nms.optInt("max_detections", post.optInt("max_detections", 300))
    val classAgnostic: Boolean = nms.optBoolean("class_agnostic", false)
    val topK: Int? = if (post.has("top_k")) post.getInt("top_k") else null
    val keypointShape: IntArray? = post.optJSONArray("keypoint_shape")?.let { a -> IntArray(a.length()) { a.getInt(it) } }
    val maskPrototypes: Int? = if (post.has("mask_prototypes")) post.getInt("mask_prototypes") else null
    val boxFormat: String = post.optString("box_format", if (decodedType == "yolo_obb") "xywhr" else "xyxy")
    val normalized: Boolean = post.optBoolean("normalized", false) // rows: fractions of the input size
    val scores: String = post.optString("scores", "") // set_prediction: softmax | sigmoid | max
    val scoresIndex: Int = post.optInt("scores_index", 0)
    val boxesIndex: Int? = if (post.has("boxes_index")) post.getInt("boxes_index") else null // null: boxes lead
    val mapping: String = post.optString("mapping", "inverse") // semantic_logits: inverse | stretch

    companion object {
        val TYPES = listOf("logits", "probabilities", "yolo_detect", "yolo_segment", "yolo_pose", "yolo_obb",
                           "yolo_nms", "yolo_end2end", "set_prediction", "semantic_logits")
    }
}

/** Indices by score, best first; ties keep their order (numpy's stable argsort). */
fun ranked(scores: FloatArray): List<Int> = scores.indices.sortedByDescending { scores[it] }

fun ranked(scores: DoubleArray): List<Int> = scores.indices.sortedByDescending { scores[it] }

/** Bilinear taps as torch's interpolate (align_corners false) and cv2.resize (INTER_LINEAR)
 * compute them: output pixel i reads source (i + 0.5) * scale + offset - 0.5, clamped. */
class LinearTaps(size: Int, scale: Double, offset: Double, length: Int) {
    val first = IntArray(size)
    val second = IntArray(size)
    val weight = FloatArray(size)

    init {
        for (i in 0 until size) {
            val src = ((i + 0.5) * scale + offset - 0.5).coerceIn(0.0, (length - 1).toDouble())
            first[i] = floor(src).toInt()
            second[i] = min(first[i] + 1, length - 1)
            weight[i] = (src - first[i]).toFloat()
        }
    }
}

/** A height x width float plane resized bilinearly (cv2.resize INTER_LINEAR). */
fun resizeBilinear(plane: FloatArray, height: Int, width: Int, outHeight: Int, outWidth: Int): FloatArray {
    val xs = LinearTaps(outWidth, width.toDouble() / outWidth, 0.0, width)
    val ys = LinearTaps(outHeight, height.toDouble() / outHeight, 0.0, height)
    val cols = FloatArray(height * outWidth)
    for (y in 0 until height) {
        for (x in 0 until outWidth) {
            cols[y * outWidth + x] = plane[y * width + xs.first[x]] * (1f - xs.weight[x]) +
                plane[y * width + xs.second[x]] * xs.weight[x]
        }
    }
    val out = FloatArray(outHeight * outWidth)
    for (y in 0 until outHeight) {
        val a = ys.weight[y]
        val b = 1f - a
        for (x in 0 until outWidth) {
            out[y * outWidth + x] = cols[ys.first[y] * outWidth + x] * b + cols[ys.second[y] * outWidth + x] * a
        }
    }
    return out
}

/** Raw outputs -> predictions, as metadata.json's postprocessing section says. */
class Postprocessor(post: JSONObject, val classNames: List<String>) {
    val spec = PostprocessingSpec(post)
    private val rows = spec.type == "yolo_nms" || spec.type == "yolo_end2end"
    private val rotated = spec.decodedType == "yolo_obb" || spec.boxFormat == "xywhr"

    private fun name(id: Int): String = if (id >= 0 && id < classNames.size) classNames[id] else id.toString()

    /** Predictions in the original image (imageH x imageW); masks: compute instance masks
     * (segment) and per-class masks (semantic). */
    fun decode(outputs: List<Tensor>, t: Transform, imageH: Int, imageW: Int, conf: Float? = null,
               iou: Double? = null, masks: Boolean = false): List<Prediction> {
        require(outputs.isNotEmpty()) { "the model gave no outputs" }
        val threshold = conf ?: spec.confidenceThreshold
        return when (spec.type) {
            "logits", "probabilities" -> classify(outputs)
            "set_prediction" -> setPrediction(outputs, t, imageH, imageW, threshold)
            "semantic_logits" -> semantic(outputs, t, imageH, imageW, masks)
            else -> yolo(outputs, t, imageH, imageW, threshold, iou ?: spec.iouThreshold, masks)
        }
    }

    // --- classification ---------------------------------------------------

    private fun classify(outputs: List<Tensor>): List<Prediction> {
        var scores = DoubleArray(outputs[0].data.size) { outputs[0].data[it].toDouble() }
        if (spec.type == "logits" && scores.isNotEmpty()) { // softmax
            val top = scores.fold(scores[0]) { a, b -> max(a, b) }
            val e = scores.map { exp(it - top) }
            val sum = e.sum()
            scores = DoubleArray(e.size) { e[it] / sum }
        }
        return ranked(scores).take(spec.topK ?: 5).map { Prediction(it, name(it), scores[it].toFloat()) }
    }

    // --- YOLO grid and rows -------------------------------------------------

    private class Candidates {
        val boxes = ArrayList<FloatArray>() // xyxy, or cx, cy, w, h, angle when rotated (input pixels)
        val scores = ArrayList<Float>()
        val classes = ArrayList<Int>()
        val extras = ArrayList<FloatArray>() // mask coefficients or keypoints
    }

    private fun candidates(outputs: List<Tensor>, conf: Float, t: Transform): Candidates {
        val out = outputs[0]
        require(out.shape.size >= 3) { "${spec.type}: expected a 3-D output, got ${out.shape.toList()}" }
        val c = Candidates()
        val layout: String
        if (rows) { // (1, rows, 6 + extras): box, score, class, extras
            val cols = out.shape[2]
            for (r in 0 until out.shape[1]) {
                val row = r * cols
                if (!(out.data[row + 4] > conf)) continue
                c.boxes.add(out.data.copyOfRange(row, row + 4))
                c.scores.add(out.data[row + 4])
                c.classes.add(out.data[row + 5].toInt()) // truncated, as numpy's astype(int64)
                c.extras.add(out.data.copyOfRange(row + 6, row + cols))
            }
            layout = spec.boxFormat
        } else { // (1, 4 + classes + extras, anchors): cx, cy, w, h in input pixels
            val channels = out.shape[1]
            val anchors = out.shape[2]
            val nc = classNames.size
            require(channels >= 4 + nc) { "${spec.type}: the output has $channels channels, fewer than 4 + $nc classes" }
            for (a in 0 until anchors) {
                var best = out.data[4 * anchors + a]
                var bestClass = 0
                for (k in 1 until nc) {
                    val s = out.data[(4 + k) * anchors + a]
                    if (s > best) { best = s; bestClass = k }
                }
                if (!(best > conf)) continue
                c.boxes.add(FloatArray(4) { out.data[it * anchors + a] })
                c.scores.add(best)
                c.classes.add(bestClass)
                c.extras.add(FloatArray(channels - 4 - nc) { out.data[(4 + nc + it) * anchors + a] })
            }
            layout = if (rotated) "xywhr" else "xywh"
        }
        for (i in c.boxes.indices) {
            var box = c.boxes[i]
            if (spec.normalized) { // fractions of the input tensor's size
                box = floatArrayOf(box[0] * t.width, box[1] * t.height, box[2] * t.width, box[3] * t.height)
            }
            when (layout) {
                "xywhr" -> { // the angle is the last extra
                    val extra = c.extras[i]
                    require(extra.isNotEmpty()) { "${spec.type}: a rotated box without its angle" }
                    box = box + extra[extra.size - 1]
                    c.extras[i] = extra.copyOfRange(0, extra.size - 1)
                }
                "xywh" -> {
                    val hw = box[2] / 2
                    val hh = box[3] / 2
                    box = floatArrayOf(box[0] - hw, box[1] - hh, box[0] + hw, box[1] + hh)
                }
                "xyxy" -> {}
                else -> throw IllegalArgumentException("unknown box_format in metadata.json: '$layout'")
            }
            require(!rotated || box.size == 5) {
                "${spec.type}: rotated boxes (decoded_type yolo_obb) need box_format 'xywhr' in metadata.json, not '$layout'"
            }
            c.boxes[i] = box
        }
        return c
    }

    /** Indices of the detections kept, best first. */
    private fun select(c: Candidates, iou: Double): List<Int> {
        val maxDet = max(spec.maxDetections, 0)
        if (rows) return (0 until min(c.scores.size, maxDet)).toList() // final and ranked already
        val order = ranked(c.scores.toFloatArray()).take(MAX_NMS)
        val step = if (spec.classAgnostic) 0.0 else CLASS_OFFSET
        val keep = if (rotated) {
            rotatedNms(order.map { i ->
                val b = c.boxes[i]
                val offset = c.classes[i] * step
                doubleArrayOf(b[0] + offset, b[1] + offset, b[2].toDouble(), b[3].toDouble(), b[4].toDouble())
            }, iou)
        } else {
            nms(order.map { i -> DoubleArray(4) { c.boxes[i][it] + c.classes[i] * step } },
                FloatArray(order.size) { c.scores[order[it]] }, iou)
        }
        return keep.take(maxDet).map { order[it] }
    }

    private fun yolo(outputs: List<Tensor>, t: Transform, imageH: Int, imageW: Int, conf: Float, iou: Double,
                     masks: Boolean): List<Prediction> {
        val c = candidates(outputs, conf, t)
        val x = { v: Float -> ((v - t.padX) / t.gainX).coerceIn(0f, imageW.toFloat()) }
        val y = { v: Float -> ((v - t.padY) / t.gainY).coerceIn(0f, imageH.toFloat()) }
        val result = ArrayList<Prediction>()
        for (k in select(c, iou)) {
            val box = c.boxes[k]
            var p = if (rotated) {
                rotatedPrediction(c.classes[k], c.scores[k], box, t)
            } else {
                val bbox = floatArrayOf(x(box[0]), y(box[1]), x(box[2]), y(box[3]))
                if (bbox[2] <= bbox[0] || bbox[3] <= bbox[1]) continue // wholly in the letterbox padding
                Prediction(c.classes[k], name(c.classes[k]), c.scores[k], bbox)
            }
            val shape = spec.keypointShape
            if (shape != null && shape.size == 2) {
                val count = shape[0]
                val dims = shape[1]
                val extra = c.extras[k]
                require(extra.size >= count * dims) {
                    "a detection has ${extra.size} keypoint values, keypoint_shape says ${count * dims}"
                }
                p = p.copy(keypoints = (0 until count).map { n ->
                    FloatArray(dims) { d ->
                        val v = extra[n * dims + d]
                        when (d) { 0 -> x(v); 1 -> y(v); else -> v }
                    }
                })
            }
            if (spec.maskPrototypes != null && masks) {
                require(outputs.size > 1) { "a segmentation model without its mask prototypes" }
                p = p.copy(mask = instanceMask(c.extras[k], outputs[1], box, t, imageH, imageW))
            }
            result.add(p)
        }
        return result
    }

    /** A rotated box (input pixels) in the original image: rbox, corners and their bounds (not clipped). */
    private fun rotatedPrediction(id: Int, score: Float, box: FloatArray, t: Transform): Prediction {
        val mapped = doubleArrayOf((box[0] - t.padX.toDouble()) / t.gainX, (box[1] - t.padY.toDouble()) / t.gainY,
                                   box[2] / t.gainX.toDouble(), box[3] / t.gainY.toDouble(), box[4].toDouble())
        val corners = corners(mapped)
        val xs = corners.map { it[0] }
        val ys = corners.map { it[1] }
        val low = { v: List<Double> -> v.reduce { a, b -> min(a, b) }.toFloat() }
        val high = { v: List<Double> -> v.reduce { a, b -> max(a, b) }.toFloat() }
        val bbox = floatArrayOf(low(xs), low(ys), high(xs), high(ys))
        return Prediction(id, name(id), score, bbox, rbox = FloatArray(5) { mapped[it].toFloat() },
                          polygon = corners.map { corner -> FloatArray(2) { corner[it].toFloat() } })
    }

    // --- set prediction (DETR-style) ----------------------------------------

    private fun setPrediction(outputs: List<Tensor>, t: Transform, imageH: Int, imageW: Int,
                              conf: Float): List<Prediction> {
        require(spec.scoresIndex < outputs.size && (spec.boxesIndex ?: 0) < outputs.size) {
            "scores_index / boxes_index in metadata.json point past the model's ${outputs.size} outputs"
        }
        val scoresOut = outputs[spec.scoresIndex]
        val queries = scoresOut.shape[1]
        val width = scoresOut.shape[2]
        val boxesIndex = spec.boxesIndex
        val classes = if (boxesIndex == null) width - 4 else width // boxes first, then the class scores
        val boxes = if (boxesIndex == null) scoresOut.data else outputs[boxesIndex].data
        val boxStride = if (boxesIndex == null) width else 4
        val shift = if (boxesIndex == null) 4 else 0
        fun logit(q: Int, k: Int): Float = scoresOut.data[q * width + shift + k]
        val query = ArrayList<Int>()
        val label = ArrayList<Int>()
        val score = ArrayList<Float>()
        when (spec.scores) {
            "softmax" -> for (q in 0 until queries) { // the last class means "no object"
                var top = logit(q, 0)
                for (k in 1 until classes) top = max(top, logit(q, k))
                val e = FloatArray(classes) { exp(logit(q, it) - top) }
                var sum = 0f
                for (v in e) sum += v
                var best = 0
                for (k in 1 until classes - 1) if (e[k] / sum > e[best] / sum) best = k
                query.add(q); label.add(best); score.add(e[best] / sum)
            }
            "sigmoid" -> { // the top_k (query, class) pairs
                val flat = FloatArray(queries * classes) { 1f / (1f + exp(-logit(it / classes, it % classes))) }
                val top = ranked(flat)
                val k = spec.topK?.takeIf { it > 0 } ?: top.size
                for (i in top.take(k)) { query.add(i / classes); label.add(i % classes); score.add(flat[i]) }
            }
            "max" -> for (q in 0 until queries) { // already probabilities
                var best = 0
                for (k in 1 until classes) if (logit(q, k) > logit(q, best)) best = k
                query.add(q); label.add(best); score.add(logit(q, best))
            }
            else -> throw IllegalArgumentException("unknown set_prediction scores in metadata.json: '${spec.scores}'")
        }
        val kept = score.indices.filter { score[it] > conf }
        val x = { v: Double -> (((v * t.width).toFloat() - t.padX) / t.gainX).coerceIn(0f, imageW.toFloat()) }
        val y = { v: Double -> (((v * t.height).toFloat() - t.padY) / t.gainY).coerceIn(0f, imageH.toFloat()) }
        return ranked(FloatArray(kept.size) { score[kept[it]] }).take(max(spec.maxDetections, 0)).map { n ->
            val i = kept[n]
            val b = query[i] * boxStride
            val cx = boxes[b].toDouble()
            val cy = boxes[b + 1].toDouble()
            val w = boxes[b + 2].toDouble()
            val h = boxes[b + 3].toDouble()
            Prediction(label[i], name(label[i]), score[i],
                       floatArrayOf(x(cx - 0.5 * w), y(cy - 0.5 * h), x(cx + 0.5 * w), y(cy + 0.5 * h)))
        }
    }

    // --- semantic segmentation ----------------------------------------------

    /** The class of every pixel of the original image (row-major) and its winning probability: the
     * logits resampled through the inverse of the preprocessing geometry ("inverse") or over the
     * whole image ("stretch"). */
    fun classMap(outputs: List<Tensor>, t: Transform, imageH: Int, imageW: Int): Pair<IntArray, FloatArray> {
        val out = outputs[0]
        require(out.shape.size == 4) { "semantic_logits: expected a 4-D output, got ${out.shape.toList()}" }
        val classes = out.shape[1]
        val h = out.shape[2]
        val w = out.shape[3]
        val (xs, ys) = when (spec.mapping) {
            "stretch" -> Pair(LinearTaps(imageW, w.toDouble() / imageW, 0.0, w),
                              LinearTaps(imageH, h.toDouble() / imageH, 0.0, h))
            "inverse" -> { // original x -> tensor x * gain + pad -> logits * w / tensor width
                val ky = h.toDouble() / t.height
                val kx = w.toDouble() / t.width
                Pair(LinearTaps(imageW, t.gainX * kx, t.padX * kx, w), LinearTaps(imageH, t.gainY * ky, t.padY * ky, h))
            }
            else -> throw IllegalArgumentException("unknown semantic_logits mapping in metadata.json: '${spec.mapping}'")
        }
        val cols = FloatArray(classes * h * imageW) // the columns first
        for (c in 0 until classes) {
            for (row in 0 until h) {
                val src = (c * h + row) * w
                val dst = (c * h + row) * imageW
                for (col in 0 until imageW) {
                    cols[dst + col] = out.data[src + xs.first[col]] * (1f - xs.weight[col]) +
                        out.data[src + xs.second[col]] * xs.weight[col]
                }
            }
        }
        val labels = IntArray(imageH * imageW)
        val best = FloatArray(imageH * imageW)
        val value = FloatArray(classes)
        for (row in 0 until imageH) {
            val a = ys.weight[row]
            val b = 1f - a
            for (col in 0 until imageW) {
                var top = 0
                for (c in 0 until classes) {
                    val plane = c * h * imageW
                    value[c] = cols[plane + ys.first[row] * imageW + col] * b + cols[plane + ys.second[row] * imageW + col] * a
                    if (value[c] > value[top]) top = c
                }
                var sum = 0f
                for (c in 0 until classes) sum += exp(value[c] - value[top])
                labels[row * imageW + col] = top
                best[row * imageW + col] = 1f / sum
            }
        }
        return Pair(labels, best)
    }

    private fun semantic(outputs: List<Tensor>, t: Transform, imageH: Int, imageW: Int,
                         masks: Boolean): List<Prediction> {
        val (labels, best) = classMap(outputs, t, imageH, imageW)
        val result = ArrayList<Prediction>()
        for (id in labels.toSortedSet()) {
            var pixels = 0
            var probability = 0.0
            var x1 = imageW
            var y1 = imageH
            var x2 = -1
            var y2 = -1
            for (i in labels.indices) {
                if (labels[i] != id) continue
                pixels += 1
                probability += best[i]
                val row = i / imageW
                val col = i % imageW
                x1 = min(x1, col); y1 = min(y1, row); x2 = max(x2, col); y2 = max(y2, row)
            }
            result.add(Prediction(
                id, name(id), (probability / pixels).toFloat(),
                floatArrayOf(x1.toFloat(), y1.toFloat(), (x2 + 1).toFloat(), (y2 + 1).toFloat()),
                area = (pixels.toDouble() / (imageH.toDouble() * imageW)).toFloat(),
                mask = if (masks) Mask(imageW, imageH, BooleanArray(labels.size) { labels[it] == id }) else null
            ))
        }
        return result.sortedByDescending { it.area ?: 0f } // stable: ties keep the class order
    }

    companion object {
        const val MAX_NMS = 30000 // Ultralytics keeps at most this many candidates before NMS
        const val CLASS_OFFSET = 7680.0 // class-aware NMS: each class's boxes shifted this far apart

        /** Greedy non-maximum suppression on xyxy boxes; kept indices, best first. */
        fun nms(boxes: List<DoubleArray>, scores: FloatArray, threshold: Double): List<Int> {
            val order = ranked(scores)
            val removed = BooleanArray(boxes.size)
            val keep = ArrayList<Int>()
            for ((n, i) in order.withIndex()) {
                if (removed[i]) continue
                keep.add(i)
                val a = boxes[i]
                val areaA = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
                for (j in order.subList(n + 1, order.size)) {
                    if (removed[j]) continue
                    val b = boxes[j]
                    val inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
                    val areaB = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
                    if (!(inter / (areaA + areaB - inter + 1e-9) <= threshold)) removed[j] = true
                }
            }
            return keep
        }

        /** Probabilistic IoU of two rotated boxes (cx, cy, w, h, angle), as Ultralytics computes it. */
        fun probiou(a: DoubleArray, b: DoubleArray): Double {
            val eps = 1e-7
            fun covariance(r: DoubleArray): DoubleArray {
                val vw = r[2] * r[2] / 12
                val vh = r[3] * r[3] / 12
                val c = cos(r[4])
                val s = sin(r[4])
                return doubleArrayOf(vw * (c * c) + vh * (s * s), vw * (s * s) + vh * (c * c), (vw - vh) * c * s)
            }
            val (a1, b1, c1) = covariance(a)
            val (a2, b2, c2) = covariance(b)
            val dx = a[0] - b[0]
            val dy = a[1] - b[1]
            val sa = a1 + a2
            val sb = b1 + b2
            val sc = c1 + c2
            val det = sa * sb - sc * sc
            val mahalanobis = (sa * (dy * dy) + sb * (dx * dx) - 2 * sc * dx * dy) / (det + eps) / 4
            val spread = sqrt(max(a1 * b1 - c1 * c1, 0.0) * max(a2 * b2 - c2 * c2, 0.0))
            val bhattacharyya = (mahalanobis + ln(det / (4 * spread + eps) + eps) / 2).coerceIn(eps, 100.0)
            return 1 - sqrt(1 - exp(-bhattacharyya) + eps)
        }

        /** Fast-NMS over rotated boxes ranked best first: a box goes when any better box (kept or
         * not) overlaps it by more than the threshold, as Ultralytics runs it. */
        fun rotatedNms(ranked: List<DoubleArray>, threshold: Double): List<Int> =
            ranked.indices.filter { j -> (0 until j).none { probiou(ranked[it], ranked[j]) > threshold } }

        /** A rotated box's four corners in Ultralytics' order (xywhr2xyxyxyxy). */
        fun corners(r: DoubleArray): List<DoubleArray> {
            val c = cos(r[4])
            val s = sin(r[4])
            val along = doubleArrayOf(r[2] / 2 * c, r[2] / 2 * s)
            val across = doubleArrayOf(-r[3] / 2 * s, r[3] / 2 * c)
            return listOf(1.0 to 1.0, 1.0 to -1.0, -1.0 to -1.0, -1.0 to 1.0).map { (u, v) ->
                doubleArrayOf(r[0] + u * along[0] + v * across[0], r[1] + u * along[1] + v * across[1])
            }
        }

        /** One instance mask, as Ultralytics makes it: prototypes x coefficients upsampled to the input
         * size, positive inside the box (input pixels), then the image's region resized to the image (> 0.5). */
        fun instanceMask(coef: FloatArray, protos: Tensor, box: FloatArray, t: Transform, imageH: Int,
                         imageW: Int): Mask {
            require(protos.shape.size == 4 && coef.size >= protos.shape[1]) {
                "mask prototypes ${protos.shape.toList()} do not fit ${coef.size} coefficients"
            }
            val nm = protos.shape[1]
            val mh = protos.shape[2]
            val mw = protos.shape[3]
            val logits = FloatArray(mh * mw)
            for (j in 0 until nm) for (i in 0 until mh * mw) logits[i] += coef[j] * protos.data[j * mh * mw + i]
            val upsampled = resizeBilinear(logits, mh, mw, t.height, t.width)
            val inside = FloatArray(t.height * t.width)
            for (r in 0 until t.height) {
                if (!(r >= box[1].toDouble() && r < box[3].toDouble())) continue
                for (col in 0 until t.width) {
                    val inBox = col >= box[0].toDouble() && col < box[2].toDouble()
                    inside[r * t.width + col] = if (inBox && upsampled[r * t.width + col] > 0f) 1f else 0f
                }
            }
            val top = max(round(t.padY.toDouble()).toInt(), 0) // Python's round: halves to even
            val left = max(round(t.padX.toDouble()).toInt(), 0)
            val height = min(max(round(imageH * t.gainY.toDouble()).toInt(), 1), t.height - top)
            val width = min(max(round(imageW * t.gainX.toDouble()).toInt(), 1), t.width - left)
            if (height <= 0 || width <= 0) return Mask(imageW, imageH, BooleanArray(imageW * imageH))
            val region = FloatArray(height * width) { inside[(top + it / width) * t.width + left + it % width] }
            val resized = resizeBilinear(region, height, width, imageH, imageW)
            return Mask(imageW, imageH, BooleanArray(resized.size) { resized[it] > 0.5f })
        }
    }
}

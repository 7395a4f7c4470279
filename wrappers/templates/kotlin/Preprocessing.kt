// Slipway pre-processing for Android: metadata.json's preprocessing.steps (resize,
// center_crop, pad) on an RGB pixel buffer, exactly as the Python wrapper runs them.
// "antialias": true resamples exactly as PIL's Image.resize does (the filter widens when
// shrinking; fixed-point weights; two passes rounded to 8 bits); false follows OpenCV's
// cv2.resize: nearest exactly, bilinear in OpenCV's 11-bit fixed point (within one level
// of cv2.resize), other filters through the PIL resampler. No platform resizer is used.
package ai.slipway.model

import android.graphics.Bitmap
import org.json.JSONArray
import org.json.JSONObject
import kotlin.math.PI
import kotlin.math.abs
import kotlin.math.cos
import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min
import kotlin.math.rint
import kotlin.math.sin

/** An RGB image: 3 values (0..255) per pixel, row-major. */
class RgbImage(val width: Int, val height: Int, val pixels: IntArray) {
    companion object {
        fun fromBitmap(bitmap: Bitmap): RgbImage {
            val argb = IntArray(bitmap.width * bitmap.height)
            bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
            val rgb = IntArray(argb.size * 3)
            for (i in argb.indices) {
                rgb[i * 3] = (argb[i] shr 16) and 0xff
                rgb[i * 3 + 1] = (argb[i] shr 8) and 0xff
                rgb[i * 3 + 2] = argb[i] and 0xff
            }
            return RgbImage(bitmap.width, bitmap.height, rgb)
        }
    }
}

/** One of metadata.json's preprocessing.steps (see core/metadata.py for the vocabulary). */
class Step(json: JSONObject) {
    val op: String = json.getString("op") // resize | center_crop | pad
    val mode: String = json.optString("mode", "") // resize: exact | shortest_edge | longest_edge | fit
    val height: Int = json.optJSONArray("size")?.getInt(0) ?: 0
    val width: Int = json.optJSONArray("size")?.getInt(1) ?: 0
    // center_crop: [fh, fw] of the shorter side instead of a size; null if none
    val fraction: DoubleArray? = json.optJSONArray("fraction")?.let { f -> DoubleArray(2) { f.getDouble(it) } }
    val edge: Int = json.optInt("edge", 0)
    val maxEdge: Int = json.optInt("max_edge", 0) // 0: none
    val rule: String = json.optString("rule", if (op == "resize") "floor" else "round")
    val interpolation: String = json.optString("interpolation", "bilinear")
    val antialias: Boolean = json.optBoolean("antialias", true)
    val multipleOf: Int = json.optInt("multiple_of", 0)
    val position: String = json.optString("position", "center")
    val fill: IntArray = json.optJSONArray("fill")?.let { f -> IntArray(3) { f.getInt(it) } }
        ?: IntArray(3) { if (op == "pad") 114 else 0 }

    init {
        require(op in listOf("resize", "center_crop", "pad")) { "unknown preprocessing step in metadata.json: $op" }
    }
}

/** Python's round(): halves to the even neighbour. */
private fun pyRound(value: Double): Int = rint(value).toInt()

class Preprocessor(steps: JSONArray) {
    val steps: List<Step> = (0 until steps.length()).map { Step(steps.getJSONObject(it)) }

    /** Every step in order; the image the model sees and the transform back to the original. */
    fun apply(input: RgbImage): Pair<RgbImage, Transform> {
        var image = input
        var gainX = 1.0
        var gainY = 1.0
        var padX = 0.0
        var padY = 0.0
        fun compose(gx: Double, gy: Double, px: Double, py: Double) {
            gainX *= gx; gainY *= gy; padX = padX * gx + px; padY = padY * gy + py
        }
        for (step in steps) {
            val h = image.height
            val w = image.width
            when (step.op) {
                "resize" -> {
                    var (newH, newW) = resizedSize(h, w, step)
                    if (step.multipleOf > 0) { // each side rounded up to a multiple (TextNet's size_divisor)
                        newH = (newH + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                        newW = (newW + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                    }
                    if (newH != h || newW != w) {
                        image = if (step.antialias || step.interpolation !in listOf("nearest", "bilinear")) {
                            Resampler.pil(image, newW, newH, if (step.interpolation == "area") "box" else step.interpolation)
                        } else {
                            Resampler.opencv(image, newW, newH, step.interpolation)
                        }
                    }
                    compose(newW.toDouble() / w, newH.toDouble() / h, 0.0, 0.0)
                }
                "center_crop" -> {
                    fun axis(size: Int, crop: Int): IntArray { // pad before, after, offset
                        var before = 0
                        var after = 0
                        var n = size
                        if (n < crop) {
                            before = if (step.rule == "floor") (crop - n + 1) / 2 else (crop - n) / 2
                            after = crop - n - before
                            n = crop
                        }
                        val offset = if (step.rule == "round") pyRound((n - crop) / 2.0) else (n - crop) / 2
                        return intArrayOf(before, after, offset)
                    }
                    val shorter = minOf(h, w).toDouble()
                    val cropH = step.fraction?.let { (it[0] * shorter).toInt() } ?: step.height
                    val cropW = step.fraction?.let { (it[1] * shorter).toInt() } ?: step.width
                    val ys = axis(h, cropH)
                    val xs = axis(w, cropW)
                    image = border(image, ys[0], ys[1], xs[0], xs[1], step.fill)
                    image = crop(image, xs[2], ys[2], cropW, cropH)
                    compose(1.0, 1.0, (xs[0] - xs[2]).toDouble(), (ys[0] - ys[2]).toDouble())
                }
                "pad" -> {
                    var th = step.height
                    var tw = step.width
                    if (step.multipleOf > 0) {
                        th = (h + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                        tw = (w + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                    }
                    require(th >= h && tw >= w) { "metadata.json pads to a size smaller than the image" }
                    val center = step.position != "bottom_right"
                    val top = if (center) pyRound((th - h) / 2.0 - 0.1) else 0 // Ultralytics' letterbox split
                    val left = if (center) pyRound((tw - w) / 2.0 - 0.1) else 0
                    image = border(image, top, th - h - top, left, tw - w - left, step.fill)
                    compose(1.0, 1.0, left.toDouble(), top.toDouble())
                }
            }
        }
        return Pair(image, Transform(gainX.toFloat(), gainY.toFloat(), padX.toFloat(), padY.toFloat()))
    }

    companion object {
        /** The (height, width) a resize step gives an h x w image, computed as its library does. */
        fun resizedSize(h: Int, w: Int, s: Step): Pair<Int, Int> {
            if (s.mode == "exact") return Pair(s.height, s.width)
            val shorter = min(h, w)
            val longer = max(h, w)
            fun keepRatio(ref: Int, target: Int, rule: String): Pair<Int, Int> {
                if (rule == "timm") { // timm ResizeKeepRatio: round(side / ratio)
                    val ratio = ref.toDouble() / target
                    return Pair(max(pyRound(h / ratio), 1), max(pyRound(w / ratio), 1))
                }
                val gain = target.toDouble() / ref // Ultralytics: round(side * gain)
                return Pair(max(pyRound(h * gain), 1), max(pyRound(w * gain), 1))
            }
            if (s.mode == "fit") {
                val gain = min(s.height.toDouble() / h, s.width.toDouble() / w)
                if (s.rule == "floor") return Pair(max((h * gain).toInt(), 1), max((w * gain).toInt(), 1))
                if (s.rule == "timm") {
                    val byHeight = h.toDouble() / s.height >= w.toDouble() / s.width
                    return keepRatio(if (byHeight) h else w, if (byHeight) s.height else s.width, "timm")
                }
                return Pair(max(pyRound(h * gain), 1), max(pyRound(w * gain), 1))
            }
            if (s.rule == "detr" || s.rule == "yolos") return detrSize(h, w, s.edge, s.maxEdge, s.rule == "yolos")
            if (s.mode == "longest_edge") {
                if (s.rule == "floor") {
                    val newShort = max((s.edge.toDouble() * shorter / longer).toInt(), 1)
                    return if (w <= h) Pair(s.edge, newShort) else Pair(newShort, s.edge)
                }
                return keepRatio(longer, s.edge, s.rule)
            }
            if (s.rule == "floor") { // torchvision / transformers: new_long = int(edge * long / short)
                var newShort = s.edge
                var newLong = (s.edge.toDouble() * longer / shorter).toInt()
                if (s.maxEdge > 0 && newLong > s.maxEdge) {
                    newShort = (s.maxEdge.toDouble() * newShort / newLong).toInt()
                    newLong = s.maxEdge
                }
                return if (w <= h) Pair(newLong, newShort) else Pair(newShort, newLong)
            }
            var size = keepRatio(shorter, s.edge, s.rule)
            if (s.maxEdge > 0 && max(size.first, size.second) > s.maxEdge) size = keepRatio(longer, s.maxEdge, s.rule)
            return size
        }

        /** DETR's get_size_with_aspect_ratio; YOLOS's variant also floors to a multiple of 16. */
        fun detrSize(h: Int, w: Int, target: Int, maxSize: Int, yolos: Boolean): Pair<Int, Int> {
            var size = target
            var raw: Double? = null
            if (maxSize > 0) {
                val shorter = min(h, w).toDouble()
                val longer = max(h, w).toDouble()
                if (longer / shorter * size > maxSize) {
                    raw = maxSize * shorter / longer
                    size = pyRound(raw)
                }
            }
            val base = raw ?: size.toDouble()
            val keep = (h <= w && h == size) || (w <= h && w == size)
            var oh: Int
            var ow: Int
            if (keep && !(yolos && w < h)) {
                oh = h; ow = w
            } else if (w < h) {
                ow = size; oh = (base * h / w).toInt()
            } else {
                oh = size; ow = (base * w / h).toInt()
            }
            if (yolos) {
                oh -= oh % 16; ow -= ow % 16
            }
            return Pair(oh, ow)
        }

        fun border(image: RgbImage, top: Int, bottom: Int, left: Int, right: Int, fill: IntArray): RgbImage {
            if (top == 0 && bottom == 0 && left == 0 && right == 0) return image
            val w = image.width + left + right
            val h = image.height + top + bottom
            val pixels = IntArray(w * h * 3) { fill[it % 3] }
            for (y in 0 until image.height) {
                System.arraycopy(image.pixels, y * image.width * 3, pixels, ((y + top) * w + left) * 3, image.width * 3)
            }
            return RgbImage(w, h, pixels)
        }

        fun crop(image: RgbImage, x: Int, y: Int, width: Int, height: Int): RgbImage {
            val pixels = IntArray(width * height * 3)
            for (row in 0 until height) {
                System.arraycopy(image.pixels, ((y + row) * image.width + x) * 3, pixels, row * width * 3, width * 3)
            }
            return RgbImage(width, height, pixels)
        }
    }
}

/** The resamplers: PIL's (antialias true) and OpenCV's nearest and bilinear (antialias false). */
object Resampler {
    private const val PRECISION_BITS = 22 // PIL's fixed-point coefficients for 8-bit images: 32 - 8 - 2

    private fun sinc(v: Double): Double = if (v == 0.0) 1.0 else sin(v * PI) / (v * PI)

    private fun triangle(v: Double): Double = if (abs(v) < 1.0) 1.0 - abs(v) else 0.0

    private fun cubic(v: Double): Double { // Keys' cubic, a = -0.5
        val a = -0.5
        val x = abs(v)
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a
        return 0.0
    }

    private fun lanczos(v: Double): Double = if (v >= -3.0 && v < 3.0) sinc(v) * sinc(v / 3) else 0.0

    private fun box(v: Double): Double = if (v > -0.5 && v <= 0.5) 1.0 else 0.0

    private fun hamming(v: Double): Double {
        val x = abs(v)
        if (x == 0.0) return 1.0
        if (x >= 1.0) return 0.0
        val px = x * PI
        return sin(px) / px * (0.54f.toDouble() + 0.46f.toDouble() * cos(px)) // PIL's C float constants
    }

    /** PIL's filters: support and kernel. */
    private fun kernel(name: String): Pair<Double, (Double) -> Double> = when (name) {
        "bicubic" -> Pair(2.0, ::cubic)
        "lanczos" -> Pair(3.0, ::lanczos)
        "box" -> Pair(0.5, ::box)
        "hamming" -> Pair(1.0, ::hamming)
        else -> Pair(1.0, ::triangle)
    }

    /** First source index, tap count and fixed-point weights per output pixel (PIL's
     *  precompute_coeffs and normalize_coeffs_8bpc). */
    private class Taps(val first: IntArray, val count: IntArray, val weights: Array<IntArray>)

    private fun taps(inSize: Int, outSize: Int, name: String): Taps {
        val (baseSupport, filter) = kernel(name)
        val scale = inSize.toDouble() / outSize
        val filterscale = max(scale, 1.0)
        val support = baseSupport * filterscale
        val first = IntArray(outSize)
        val count = IntArray(outSize)
        val weights = Array(outSize) { xx ->
            val center = (xx + 0.5) * scale
            val xmin = max((center - support + 0.5).toInt(), 0)
            val n = max(min((center + support + 0.5).toInt(), inSize) - xmin, 0)
            val k = DoubleArray(n) { x -> filter(((x + xmin) - center + 0.5) * (1.0 / filterscale)) }
            var total = 0.0
            for (value in k) total += value
            first[xx] = xmin
            count[xx] = n
            IntArray(n) { x ->
                val v = (if (total != 0.0) k[x] / total else k[x]) * (1 shl PRECISION_BITS)
                (if (v < 0) -0.5 + v else 0.5 + v).toInt()
            }
        }
        return Taps(first, count, weights)
    }

    private fun clip8(v: Long): Int = min(max((v shr PRECISION_BITS).toInt(), 0), 255)

    private fun horizontal(image: RgbImage, rowStart: Int, rows: Int, t: Taps): RgbImage {
        val outW = t.first.size
        val out = IntArray(outW * rows * 3)
        for (r in 0 until rows) {
            for (xx in 0 until outW) {
                var s0 = 1L shl (PRECISION_BITS - 1)
                var s1 = s0
                var s2 = s0
                for (x in 0 until t.count[xx]) {
                    val p = ((rowStart + r) * image.width + t.first[xx] + x) * 3
                    val k = t.weights[xx][x].toLong()
                    s0 += image.pixels[p] * k; s1 += image.pixels[p + 1] * k; s2 += image.pixels[p + 2] * k
                }
                val o = (r * outW + xx) * 3
                out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2)
            }
        }
        return RgbImage(outW, rows, out)
    }

    private fun vertical(image: RgbImage, rowOffset: Int, colStart: Int, cols: Int, t: Taps): RgbImage {
        val outH = t.first.size
        val out = IntArray(outH * cols * 3)
        for (yy in 0 until outH) {
            for (c in 0 until cols) {
                var s0 = 1L shl (PRECISION_BITS - 1)
                var s1 = s0
                var s2 = s0
                for (y in 0 until t.count[yy]) {
                    val p = ((t.first[yy] - rowOffset + y) * image.width + colStart + c) * 3
                    val k = t.weights[yy][y].toLong()
                    s0 += image.pixels[p] * k; s1 += image.pixels[p + 1] * k; s2 += image.pixels[p + 2] * k
                }
                val o = (yy * cols + c) * 3
                out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2)
            }
        }
        return RgbImage(cols, outH, out)
    }

    /** Image.resize((width, height), filter) as PIL computes it; Pillow 13 runs the vertical
     *  pass first when the height shrinks by more than twice as many pixels as the width. */
    fun pil(image: RgbImage, width: Int, height: Int, name: String): RgbImage {
        val h = image.height
        val w = image.width
        if (h == height && w == width) return image
        if (name == "nearest") return nearest(image, width, height, true)
        if (height == h) return horizontal(image, 0, h, taps(w, width, name))
        val rows = taps(h, height, name)
        if (width == w) return vertical(image, 0, 0, w, rows)
        val cols = taps(w, width, name)
        val top = rows.first.first()
        val bottom = rows.first.last() + rows.count.last()
        val left = cols.first.first()
        val right = cols.first.last() + cols.count.last()
        if (height < h && h - height > 2 * (w - width)) {
            val narrow = vertical(image, 0, left, right - left, rows)
            val shifted = Taps(IntArray(width) { cols.first[it] - left }, cols.count, cols.weights)
            return horizontal(narrow, 0, height, shifted)
        }
        val wide = horizontal(image, top, bottom - top, cols)
        return vertical(wide, top, 0, width, rows)
    }

    /** Nearest neighbour: PIL's floor((i + 0.5) * in / out), or OpenCV's floor(i * in / out). */
    fun nearest(image: RgbImage, width: Int, height: Int, pil: Boolean): RgbImage {
        fun index(inSize: Int, outSize: Int): IntArray {
            val step = inSize.toDouble() / outSize
            var position = step * 0.5
            return IntArray(outSize) { i ->
                val source = if (pil) position.toInt() else floor(i * step).toInt()
                position += step
                min(source, inSize - 1)
            }
        }
        val rows = index(image.height, height)
        val cols = index(image.width, width)
        val out = IntArray(width * height * 3)
        for (y in 0 until height) {
            for (x in 0 until width) {
                System.arraycopy(image.pixels, (rows[y] * image.width + cols[x]) * 3, out, (y * width + x) * 3, 3)
            }
        }
        return RgbImage(width, height, out)
    }

    /** cv2.resize with INTER_NEAREST or INTER_LINEAR on 8-bit images: 11-bit fixed-point
     *  weights, rounded once (within one level of OpenCV's vectorized rounding); an exact
     *  halving averages 2 x 2 pixels, as OpenCV does. */
    fun opencv(image: RgbImage, width: Int, height: Int, name: String): RgbImage {
        if (name == "nearest") return nearest(image, width, height, false)
        val out = IntArray(width * height * 3)
        if (image.width == 2 * width && image.height == 2 * height) {
            for (y in 0 until height) for (x in 0 until width) for (c in 0 until 3) {
                val a = image.pixels[((2 * y) * image.width + 2 * x) * 3 + c]
                val b = image.pixels[((2 * y) * image.width + 2 * x + 1) * 3 + c]
                val d = image.pixels[((2 * y + 1) * image.width + 2 * x) * 3 + c]
                val e = image.pixels[((2 * y + 1) * image.width + 2 * x + 1) * 3 + c]
                out[(y * width + x) * 3 + c] = (a + b + d + e + 2) shr 2
            }
            return RgbImage(width, height, out)
        }
        fun coefficients(inSize: Int, outSize: Int): Pair<IntArray, IntArray> {
            val scale = inSize.toDouble() / outSize
            val index = IntArray(outSize)
            val weight = IntArray(outSize)
            for (d in 0 until outSize) {
                var f = ((d + 0.5) * scale - 0.5).toFloat()
                var s = floor(f).toInt()
                f -= s
                if (s < 0) { f = 0f; s = 0 }
                if (s >= inSize - 1) { f = 0f; s = inSize - 1 }
                index[d] = s
                weight[d] = Math.round(f * 2048f) // saturate_cast<short>(f * 2048)
            }
            return Pair(index, weight)
        }
        val (xs, xw) = coefficients(image.width, width)
        val (ys, yw) = coefficients(image.height, height)
        for (y in 0 until height) {
            val r0 = ys[y]
            val r1 = min(ys[y] + 1, image.height - 1)
            val b1 = yw[y]
            val b0 = 2048 - b1
            for (x in 0 until width) {
                val c0 = xs[x]
                val c1 = min(xs[x] + 1, image.width - 1)
                val a1 = xw[x]
                val a0 = 2048 - a1
                for (c in 0 until 3) {
                    val top = image.pixels[(r0 * image.width + c0) * 3 + c] * a0 + image.pixels[(r0 * image.width + c1) * 3 + c] * a1
                    val bottom = image.pixels[(r1 * image.width + c0) * 3 + c] * a0 + image.pixels[(r1 * image.width + c1) * 3 + c] * a1
                    out[(y * width + x) * 3 + c] = min(max(((top.toLong() * b0 + bottom.toLong() * b1 + (1L shl 21)) shr 22).toInt(), 0), 255)
                }
            }
        }
        return RgbImage(width, height, out)
    }
}

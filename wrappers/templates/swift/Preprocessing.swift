// Slipway pre-processing for iOS / macOS: metadata.json's preprocessing.steps (resize,
// center_crop, pad) on an RGB pixel buffer, exactly as the Python wrapper runs them.
// "antialias": true resamples exactly as PIL's Image.resize does (the filter widens when
// shrinking; fixed-point weights; two passes rounded to 8 bits); false follows OpenCV's
// cv2.resize: nearest exactly, bilinear in OpenCV's 11-bit fixed point (within one level
// of cv2.resize), other filters through the PIL resampler. No platform resizer is used.
import CoreGraphics
import Foundation

/// An RGB image: 3 bytes per pixel, row-major.
public struct RGBImage {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The image's pixels as RGB bytes (alpha dropped).
    public init?(cgImage: CGImage) {
        let w = cgImage.width, h = cgImage.height
        var rgba = [UInt8](repeating: 0, count: w * h * 4)
        let drawn: Bool = rgba.withUnsafeMutableBytes { buffer in
            guard let context = CGContext(data: buffer.baseAddress, width: w, height: h, bitsPerComponent: 8,
                                          bytesPerRow: w * 4, space: CGColorSpaceCreateDeviceRGB(),
                                          bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue) else { return false }
            context.draw(cgImage, in: CGRect(x: 0, y: 0, width: w, height: h))
            return true
        }
        guard drawn else { return nil }
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            rgb[i * 3] = rgba[i * 4]
            rgb[i * 3 + 1] = rgba[i * 4 + 1]
            rgb[i * 3 + 2] = rgba[i * 4 + 2]
        }
        self.init(width: w, height: h, pixels: rgb)
    }

    /// A CGImage of these pixels (for Vision / Core ML image inputs).
    public func cgImage() -> CGImage? {
        var rgba = [UInt8](repeating: 255, count: width * height * 4)
        for i in 0..<(width * height) {
            rgba[i * 4] = pixels[i * 3]
            rgba[i * 4 + 1] = pixels[i * 3 + 1]
            rgba[i * 4 + 2] = pixels[i * 3 + 2]
        }
        guard let provider = CGDataProvider(data: Data(rgba) as CFData) else { return nil }
        return CGImage(width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 32, bytesPerRow: width * 4,
                       space: CGColorSpaceCreateDeviceRGB(),
                       bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.noneSkipLast.rawValue),
                       provider: provider, decode: nil, shouldInterpolate: false, intent: .defaultIntent)
    }
}

/// One of metadata.json's preprocessing.steps (see core/metadata.py for the vocabulary).
public struct PreprocessingStep {
    public let op: String            // resize | center_crop | pad
    public let mode: String          // resize: exact | shortest_edge | longest_edge | fit
    public let height: Int, width: Int  // size [h, w]
    public let fraction: [Double]    // center_crop: [fh, fw] of the shorter side instead of a size; [] if none
    public let edge: Int, maxEdge: Int  // shortest_edge / longest_edge; maxEdge 0: none
    public let rule: String          // resize: floor|detr|yolos|round|timm; crop: floor|round|floor_pad_floor
    public let interpolation: String
    public let antialias: Bool
    public let multipleOf: Int
    public let position: String      // pad: center | bottom_right
    public let fill: [UInt8]         // RGB

    init(_ json: [String: Any]) throws {
        guard let op = json["op"] as? String else {
            throw NSError(domain: "Slipway", code: 10,
                          userInfo: [NSLocalizedDescriptionKey: "a preprocessing step in metadata.json has no op"])
        }
        self.op = op
        mode = json["mode"] as? String ?? ""
        let size = json["size"] as? [Int] ?? [0, 0]
        height = size[0]
        width = size[1]
        fraction = json["fraction"] as? [Double] ?? []
        edge = json["edge"] as? Int ?? 0
        maxEdge = json["max_edge"] as? Int ?? 0
        rule = json["rule"] as? String ?? (op == "resize" ? "floor" : "round")
        interpolation = json["interpolation"] as? String ?? "bilinear"
        antialias = json["antialias"] as? Bool ?? true
        multipleOf = json["multiple_of"] as? Int ?? 0
        position = json["position"] as? String ?? "center"
        let defaultFill = op == "pad" ? 114 : 0
        fill = (json["fill"] as? [Int] ?? [defaultFill, defaultFill, defaultFill]).map { UInt8($0) }
    }
}

/// Python's round(): halves to the even neighbour.
private func pyRound(_ value: Double) -> Int { Int(value.rounded(.toNearestOrEven)) }

public struct Preprocessor {
    public let steps: [PreprocessingStep]

    public init(steps json: [[String: Any]]) throws {
        steps = try json.map { try PreprocessingStep($0) }
    }

    /// Every step in order; the image the model sees and the transform back to the original.
    func apply(_ input: RGBImage) -> (RGBImage, Transform) {
        var image = input
        var t = Transform(gainX: 1, gainY: 1, padX: 0, padY: 0)
        func compose(_ gx: Double, _ gy: Double, _ px: Double, _ py: Double) {
            t = Transform(gainX: Float(Double(t.gainX) * gx), gainY: Float(Double(t.gainY) * gy),
                          padX: Float(Double(t.padX) * gx + px), padY: Float(Double(t.padY) * gy + py))
        }
        for step in steps {
            let h = image.height, w = image.width
            switch step.op {
            case "resize":
                var (newH, newW) = Preprocessor.resizedSize(h, w, step)
                if step.multipleOf > 0 {  // each side rounded up to a multiple (TextNet's size_divisor)
                    newH = (newH + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                    newW = (newW + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                }
                if newH != h || newW != w {
                    if step.antialias || !["nearest", "bilinear"].contains(step.interpolation) {
                        image = Resampler.pil(image, newW, newH, step.interpolation == "area" ? "box" : step.interpolation)
                    } else {
                        image = Resampler.opencv(image, newW, newH, step.interpolation)
                    }
                }
                compose(Double(newW) / Double(w), Double(newH) / Double(h), 0, 0)
            case "center_crop":
                func axis(_ size: Int, _ crop: Int) -> (Int, Int, Int) {  // pad before, after, offset
                    var before = 0, after = 0, n = size
                    if n < crop {
                        before = step.rule == "floor" ? (crop - n + 1) / 2 : (crop - n) / 2
                        after = crop - n - before
                        n = crop
                    }
                    let offset = step.rule == "round" ? pyRound(Double(n - crop) / 2) : (n - crop) / 2
                    return (before, after, offset)
                }
                var cropH = step.height, cropW = step.width
                if step.fraction.count == 2 {  // a share of the shorter side
                    cropH = Int(step.fraction[0] * Double(min(h, w)))
                    cropW = Int(step.fraction[1] * Double(min(h, w)))
                }
                let (top, bottom, y) = axis(h, cropH)
                let (left, right, x) = axis(w, cropW)
                image = Preprocessor.border(image, top, bottom, left, right, step.fill)
                image = Preprocessor.crop(image, x, y, cropW, cropH)
                compose(1, 1, Double(left - x), Double(top - y))
            case "pad":
                var th = step.height, tw = step.width
                if step.multipleOf > 0 {
                    th = (h + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                    tw = (w + step.multipleOf - 1) / step.multipleOf * step.multipleOf
                }
                let center = step.position != "bottom_right"
                let top = center ? pyRound(Double(th - h) / 2 - 0.1) : 0  // Ultralytics' letterbox split
                let left = center ? pyRound(Double(tw - w) / 2 - 0.1) : 0
                image = Preprocessor.border(image, top, th - h - top, left, tw - w - left, step.fill)
                compose(1, 1, Double(left), Double(top))
            default:
                break  // ModelMetadata refuses unknown steps when it reads metadata.json
            }
        }
        return (image, t)
    }

    /// The (height, width) a resize step gives an h x w image, computed as its library does.
    static func resizedSize(_ h: Int, _ w: Int, _ s: PreprocessingStep) -> (Int, Int) {
        if s.mode == "exact" { return (s.height, s.width) }
        let shorter = min(h, w), longer = max(h, w)
        func keepRatio(_ ref: Int, _ target: Int, _ rule: String) -> (Int, Int) {
            if rule == "timm" {  // timm ResizeKeepRatio: round(side / ratio)
                let ratio = Double(ref) / Double(target)
                return (max(pyRound(Double(h) / ratio), 1), max(pyRound(Double(w) / ratio), 1))
            }
            let gain = Double(target) / Double(ref)  // Ultralytics: round(side * gain)
            return (max(pyRound(Double(h) * gain), 1), max(pyRound(Double(w) * gain), 1))
        }
        if s.mode == "fit" {
            let gain = min(Double(s.height) / Double(h), Double(s.width) / Double(w))
            if s.rule == "floor" { return (max(Int(Double(h) * gain), 1), max(Int(Double(w) * gain), 1)) }
            if s.rule == "timm" {
                let byHeight = Double(h) / Double(s.height) >= Double(w) / Double(s.width)
                return keepRatio(byHeight ? h : w, byHeight ? s.height : s.width, "timm")
            }
            return (max(pyRound(Double(h) * gain), 1), max(pyRound(Double(w) * gain), 1))
        }
        if s.rule == "detr" || s.rule == "yolos" { return detrSize(h, w, s.edge, s.maxEdge, s.rule == "yolos") }
        if s.mode == "longest_edge" {
            if s.rule == "floor" {
                let newShort = max(Int(Double(s.edge) * Double(shorter) / Double(longer)), 1)
                return w <= h ? (s.edge, newShort) : (newShort, s.edge)
            }
            return keepRatio(longer, s.edge, s.rule)
        }
        if s.rule == "floor" {  // torchvision / transformers: new_long = int(edge * long / short)
            var newShort = s.edge
            var newLong = Int(Double(s.edge) * Double(longer) / Double(shorter))
            if s.maxEdge > 0 && newLong > s.maxEdge {
                newShort = Int(Double(s.maxEdge) * Double(newShort) / Double(newLong))
                newLong = s.maxEdge
            }
            return w <= h ? (newLong, newShort) : (newShort, newLong)
        }
        var size = keepRatio(shorter, s.edge, s.rule)
        if s.maxEdge > 0 && max(size.0, size.1) > s.maxEdge { size = keepRatio(longer, s.maxEdge, s.rule) }
        return size
    }

    /// DETR's get_size_with_aspect_ratio; YOLOS's variant also floors to a multiple of 16.
    static func detrSize(_ h: Int, _ w: Int, _ target: Int, _ maxSize: Int, _ yolos: Bool) -> (Int, Int) {
        var size = target
        var raw: Double? = nil
        if maxSize > 0 {
            let shorter = Double(min(h, w)), longer = Double(max(h, w))
            if longer / shorter * Double(size) > Double(maxSize) {
                raw = Double(maxSize) * shorter / longer
                size = pyRound(raw!)
            }
        }
        let base = raw ?? Double(size)
        let keep = (h <= w && h == size) || (w <= h && w == size)
        var oh: Int, ow: Int
        if keep && !(yolos && w < h) {
            oh = h
            ow = w
        } else if w < h {
            ow = size
            oh = Int(base * Double(h) / Double(w))
        } else {
            oh = size
            ow = Int(base * Double(w) / Double(h))
        }
        if yolos {
            oh -= oh % 16
            ow -= ow % 16
        }
        return (oh, ow)
    }

    static func border(_ image: RGBImage, _ top: Int, _ bottom: Int, _ left: Int, _ right: Int,
                       _ fill: [UInt8]) -> RGBImage {
        if top == 0 && bottom == 0 && left == 0 && right == 0 { return image }
        let w = image.width + left + right, h = image.height + top + bottom
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            pixels[i * 3] = fill[0]
            pixels[i * 3 + 1] = fill[1]
            pixels[i * 3 + 2] = fill[2]
        }
        for y in 0..<image.height {
            let src = y * image.width * 3, dst = ((y + top) * w + left) * 3
            pixels.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    static func crop(_ image: RGBImage, _ x: Int, _ y: Int, _ width: Int, _ height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            let src = ((y + row) * image.width + x) * 3, dst = row * width * 3
            pixels.replaceSubrange(dst..<(dst + width * 3), with: image.pixels[src..<(src + width * 3)])
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}

/// The resamplers: PIL's (antialias true) and OpenCV's nearest and bilinear (antialias false).
enum Resampler {
    static let precisionBits = 22  // PIL's fixed-point coefficients for 8-bit images: 32 - 8 - 2

    static func kernel(_ name: String) -> (Double, (Double) -> Double) {
        func sinc(_ v: Double) -> Double { v == 0 ? 1 : sin(v * Double.pi) / (v * Double.pi) }
        switch name {
        case "bicubic":
            return (2.0, { v in  // Keys' cubic, a = -0.5
                let a = -0.5, x = abs(v)
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            })
        case "lanczos":
            return (3.0, { v in (-3 <= v && v < 3) ? sinc(v) * sinc(v / 3) : 0 })
        case "box":
            return (0.5, { v in (v > -0.5 && v <= 0.5) ? 1 : 0 })
        case "hamming":
            return (1.0, { v in
                let x = abs(v)
                if x == 0 { return 1 }
                if x >= 1 { return 0 }
                let px = x * Double.pi
                return sin(px) / px * (Double(Float(0.54)) + Double(Float(0.46)) * cos(px))  // PIL's C floats
            })
        default:  // bilinear: the triangle
            return (1.0, { v in abs(v) < 1 ? 1 - abs(v) : 0 })
        }
    }

    /// Per output pixel: first source index, tap count and fixed-point weights (PIL's
    /// precompute_coeffs and normalize_coeffs_8bpc).
    static func taps(_ inSize: Int, _ outSize: Int, _ name: String) -> ([Int], [Int], [[Int]]) {
        let (baseSupport, filter) = kernel(name)
        let scale = Double(inSize) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let support = baseSupport * filterscale
        var first = [Int](), count = [Int](), weights = [[Int]]()
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var k = [Double](repeating: 0, count: max(xmax, 0))
            var total = 0.0
            for x in 0..<max(xmax, 0) {
                k[x] = filter((Double(x + xmin) - center + 0.5) * (1.0 / filterscale))
                total += k[x]
            }
            weights.append(k.map { w in
                let v = (total != 0 ? w / total : w) * Double(1 << precisionBits)
                return Int(v < 0 ? -0.5 + v : 0.5 + v)
            })
            first.append(xmin)
            count.append(max(xmax, 0))
        }
        return (first, count, weights)
    }

    static func clip8(_ v: Int) -> UInt8 { UInt8(min(max(v >> precisionBits, 0), 255)) }

    static func horizontal(_ image: RGBImage, _ rows: Range<Int>, _ taps: ([Int], [Int], [[Int]])) -> RGBImage {
        let (first, count, weights) = taps
        let outW = first.count
        var out = [UInt8](repeating: 0, count: outW * rows.count * 3)
        for (r, y) in rows.enumerated() {
            for xx in 0..<outW {
                var s0 = 1 << (precisionBits - 1), s1 = s0, s2 = s0
                for x in 0..<count[xx] {
                    let p = (y * image.width + first[xx] + x) * 3, k = weights[xx][x]
                    s0 += Int(image.pixels[p]) * k
                    s1 += Int(image.pixels[p + 1]) * k
                    s2 += Int(image.pixels[p + 2]) * k
                }
                let o = (r * outW + xx) * 3
                out[o] = clip8(s0)
                out[o + 1] = clip8(s1)
                out[o + 2] = clip8(s2)
            }
        }
        return RGBImage(width: outW, height: rows.count, pixels: out)
    }

    static func vertical(_ image: RGBImage, _ rowOffset: Int, _ cols: Range<Int>,
                         _ taps: ([Int], [Int], [[Int]])) -> RGBImage {
        let (first, count, weights) = taps
        let outH = first.count
        var out = [UInt8](repeating: 0, count: outH * cols.count * 3)
        for yy in 0..<outH {
            for (o, x) in cols.enumerated() {
                var s0 = 1 << (precisionBits - 1), s1 = s0, s2 = s0
                for y in 0..<count[yy] {
                    let p = ((first[yy] - rowOffset + y) * image.width + x) * 3, k = weights[yy][y]
                    s0 += Int(image.pixels[p]) * k
                    s1 += Int(image.pixels[p + 1]) * k
                    s2 += Int(image.pixels[p + 2]) * k
                }
                let q = (yy * cols.count + o) * 3
                out[q] = clip8(s0)
                out[q + 1] = clip8(s1)
                out[q + 2] = clip8(s2)
            }
        }
        return RGBImage(width: cols.count, height: outH, pixels: out)
    }

    /// Image.resize((width, height), filter) as PIL computes it; Pillow 13 runs the vertical
    /// pass first when the height shrinks by more than twice as many pixels as the width.
    static func pil(_ image: RGBImage, _ width: Int, _ height: Int, _ name: String) -> RGBImage {
        let h = image.height, w = image.width
        if h == height && w == width { return image }
        if name == "nearest" { return nearest(image, width, height, pil: true) }
        if height == h { return horizontal(image, 0..<h, taps(w, width, name)) }
        let rows = taps(h, height, name)
        if width == w { return vertical(image, 0, 0..<w, rows) }
        let cols = taps(w, width, name)
        let top = rows.0.first!, bottom = rows.0.last! + rows.1.last!
        let left = cols.0.first!, right = cols.0.last! + cols.1.last!
        if height < h && h - height > 2 * (w - width) {
            let narrow = vertical(image, 0, left..<right, rows)
            return horizontal(narrow, 0..<height, (cols.0.map { $0 - left }, cols.1, cols.2))
        }
        let wide = horizontal(image, top..<bottom, cols)
        return vertical(wide, top, 0..<width, rows)
    }

    /// Nearest neighbour: PIL's floor((i + 0.5) * in / out), or OpenCV's floor(i * in / out).
    static func nearest(_ image: RGBImage, _ width: Int, _ height: Int, pil: Bool) -> RGBImage {
        func index(_ inSize: Int, _ outSize: Int) -> [Int] {
            let step = Double(inSize) / Double(outSize)
            var position = pil ? step * 0.5 : 0.0
            var result = [Int]()
            for _ in 0..<outSize {
                result.append(min(Int(position), inSize - 1))
                position += step
            }
            return pil ? result : (0..<outSize).map { min(Int(floor(Double($0) * step)), inSize - 1) }
        }
        let rows = index(image.height, height), cols = index(image.width, width)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let src = (rows[y] * image.width + cols[x]) * 3, dst = (y * width + x) * 3
                out[dst] = image.pixels[src]
                out[dst + 1] = image.pixels[src + 1]
                out[dst + 2] = image.pixels[src + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// cv2.resize with INTER_NEAREST or INTER_LINEAR on 8-bit images: 11-bit fixed-point
    /// weights, rounded once (within one level of OpenCV's vectorized rounding); an exact
    /// halving averages 2 x 2 pixels, as OpenCV does.
    static func opencv(_ image: RGBImage, _ width: Int, _ height: Int, _ name: String) -> RGBImage {
        if name == "nearest" { return nearest(image, width, height, pil: false) }
        if image.width == 2 * width && image.height == 2 * height {
            var out = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    for c in 0..<3 {
                        let a = Int(image.pixels[((2 * y) * image.width + 2 * x) * 3 + c])
                        let b = Int(image.pixels[((2 * y) * image.width + 2 * x + 1) * 3 + c])
                        let d = Int(image.pixels[((2 * y + 1) * image.width + 2 * x) * 3 + c])
                        let e = Int(image.pixels[((2 * y + 1) * image.width + 2 * x + 1) * 3 + c])
                        out[(y * width + x) * 3 + c] = UInt8((a + b + d + e + 2) >> 2)
                    }
                }
            }
            return RGBImage(width: width, height: height, pixels: out)
        }
        func coefficients(_ inSize: Int, _ outSize: Int) -> ([Int], [Int]) {
            let scale = Double(inSize) / Double(outSize)
            var index = [Int](), weight = [Int]()
            for d in 0..<outSize {
                var f = Float((Double(d) + 0.5) * scale - 0.5)
                var s = Int(floor(f))
                f -= Float(s)
                if s < 0 { f = 0; s = 0 }
                if s >= inSize - 1 { f = 0; s = inSize - 1 }
                index.append(s)
                weight.append(Int((f * 2048).rounded()))  // saturate_cast<short>(f * 2048)
            }
            return (index, weight)
        }
        let (xs, xw) = coefficients(image.width, width), (ys, yw) = coefficients(image.height, height)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let r0 = ys[y], r1 = min(ys[y] + 1, image.height - 1), b1 = yw[y], b0 = 2048 - b1
            for x in 0..<width {
                let c0 = xs[x], c1 = min(xs[x] + 1, image.width - 1), a1 = xw[x], a0 = 2048 - a1
                for c in 0..<3 {
                    func px(_ r: Int, _ col: Int) -> Int { Int(image.pixels[(r * image.width + col) * 3 + c]) }
                    let top = px(r0, c0) * a0 + px(r0, c1) * a1
                    let bottom = px(r1, c0) * a0 + px(r1, c1) * a1
                    out[(y * width + x) * 3 + c] = UInt8(min(max((top * b0 + bottom * b1 + (1 << 21)) >> 22, 0), 255))
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

// Slipway post-processing for iOS / macOS: raw model outputs -> predictions in the original
// image, for every postprocessing type of metadata.json (core/metadata.py), exactly as the
// Python wrapper decodes them:
//   logits / probabilities          top-k classes
//   yolo_detect|segment|pose|obb    the anchor grid: confidence filter, class-aware NMS
//                                   (rotated boxes: probiou Fast-NMS), keypoints, masks
//   yolo_nms / yolo_end2end         rows of final detections (xyxy | xywh | xywhr, normalized)
//   set_prediction                  DETR-style queries: softmax | sigmoid top-k | max
//   semantic_logits                 per-pixel logits resampled onto the image, per-class segments
// Float where the Python wrapper computes in float32, Double where it computes in float64.
import Foundation

func slipwayError(_ message: String, code: Int = 20) -> NSError {
    NSError(domain: "Slipway", code: code, userInfo: [NSLocalizedDescriptionKey: message])
}

/// A model output: its shape and float32 values, row-major (a batch of one).
public struct Tensor {
    public let shape: [Int]
    public let data: [Float]

    public init(shape: [Int], data: [Float]) {
        self.shape = shape
        self.data = data
    }
}

/// A mask the size of the original image, row-major: 1 inside, 0 outside.
public struct Mask: Codable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]

    /// How many pixels it covers.
    public var count: Int { pixels.reduce(0) { $0 + Int($1) } }
}

/// metadata.json's postprocessing section.
public struct PostprocessingSpec {
    public static let types = ["logits", "probabilities", "yolo_detect", "yolo_segment", "yolo_pose", "yolo_obb",
                               "yolo_nms", "yolo_end2end", "set_prediction", "semantic_logits"]
    public let type: String
    public let decodedType: String
    public let confidenceThreshold: Float   // nms.confidence_threshold, or confidence_threshold
    public let iouThreshold: Double         // nms.iou_threshold
    public let maxDetections: Int           // nms.max_detections, or max_detections
    public let classAgnostic: Bool          // nms.class_agnostic
    public let topK: Int?
    public let keypointShape: [Int]?        // [keypoints, 2 or 3]
    public let maskPrototypes: Int?
    public let boxFormat: String            // rows: xyxy | xywh | xywhr
    public let normalized: Bool             // rows: boxes are fractions of the input size
    public let scores: String               // set_prediction: softmax | sigmoid | max
    public let scoresIndex: Int
    public let boxesIndex: Int?             // nil: the boxes lead the scores output's last axis
    public let mapping: String              // semantic_logits: inverse | stretch

    public init(_ post: [String: Any]) throws {
        func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
        type = post["type"] as? String ?? ""
        guard PostprocessingSpec.types.contains(type) else {
            throw slipwayError("unknown postprocessing type in metadata.json: '\(type)'", code: 21)
        }
        decodedType = post["decoded_type"] as? String ?? type
        let nms = post["nms"] as? [String: Any] ?? [:]
        confidenceThreshold = Float(number(nms["confidence_threshold"]) ?? number(post["confidence_threshold"]) ?? 0.25)
        iouThreshold = number(nms["iou_threshold"]) ?? 0.7
        maxDetections = Int(number(nms["max_detections"]) ?? number(post["max_detections"]) ?? 300)
        classAgnostic = nms["class_agnostic"] as? Bool ?? false
        topK = number(post["top_k"]).map { Int($0) }
        keypointShape = (post["keypoint_shape"] as? [NSNumber])?.map { $0.intValue }
        maskPrototypes = number(post["mask_prototypes"]).map { Int($0) }
        boxFormat = post["box_format"] as? String ?? (decodedType == "yolo_obb" ? "xywhr" : "xyxy")
        normalized = post["normalized"] as? Bool ?? false
        scores = post["scores"] as? String ?? ""
        scoresIndex = Int(number(post["scores_index"]) ?? 0)
        boxesIndex = number(post["boxes_index"]).map { Int($0) }
        mapping = post["mapping"] as? String ?? "inverse"
    }
}

/// Indices by score, best first; ties keep their order (numpy's stable argsort).
func ranked<T: Comparable>(_ scores: [T]) -> [Int] {
    scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
}

/// Bilinear taps as torch's interpolate (align_corners false) and cv2.resize (INTER_LINEAR)
/// compute them: output pixel i reads source (i + 0.5) * scale + offset - 0.5, clamped.
struct LinearTaps {
    var first: [Int] = [], second: [Int] = [], weight: [Float] = []

    init(size: Int, scale: Double, offset: Double, length: Int) {
        for i in 0..<size {
            let src = min(max((Double(i) + 0.5) * scale + offset - 0.5, 0), Double(length - 1))
            let low = Int(src.rounded(.down))
            first.append(low)
            second.append(min(low + 1, length - 1))
            weight.append(Float(src - Double(low)))
        }
    }
}

/// A height x width float plane resized bilinearly (cv2.resize INTER_LINEAR).
func resizeBilinear(_ plane: [Float], _ height: Int, _ width: Int, _ outHeight: Int, _ outWidth: Int) -> [Float] {
    let xs = LinearTaps(size: outWidth, scale: Double(width) / Double(outWidth), offset: 0, length: width)
    let ys = LinearTaps(size: outHeight, scale: Double(height) / Double(outHeight), offset: 0, length: height)
    var cols = [Float](repeating: 0, count: height * outWidth)
    for y in 0..<height {
        for x in 0..<outWidth {
            cols[y * outWidth + x] = plane[y * width + xs.first[x]] * (1 - xs.weight[x])
                + plane[y * width + xs.second[x]] * xs.weight[x]
        }
    }
    var out = [Float](repeating: 0, count: outHeight * outWidth)
    for y in 0..<outHeight {
        let a = ys.weight[y], b = 1 - a
        for x in 0..<outWidth {
            out[y * outWidth + x] = cols[ys.first[y] * outWidth + x] * b + cols[ys.second[y] * outWidth + x] * a
        }
    }
    return out
}

/// Raw outputs -> predictions, as metadata.json's postprocessing section says.
public struct Postprocessor {
    public static let maxNms = 30000        // Ultralytics keeps at most this many candidates before NMS
    public static let classOffset = 7680.0  // class-aware NMS: each class's boxes shifted this far apart
    public let spec: PostprocessingSpec
    public let classNames: [String]

    public init(_ post: [String: Any], classNames: [String]) throws {
        spec = try PostprocessingSpec(post)
        self.classNames = classNames
    }

    var rows: Bool { spec.type == "yolo_nms" || spec.type == "yolo_end2end" }
    var rotated: Bool { spec.decodedType == "yolo_obb" || spec.boxFormat == "xywhr" }

    func name(_ id: Int) -> String { id >= 0 && id < classNames.count ? classNames[id] : String(id) }

    /// Predictions in the original image (imageHeight x imageWidth); masks: compute instance masks
    /// (segment) and per-class masks (semantic).
    public func decode(_ outputs: [Tensor], _ t: Transform, imageHeight: Int, imageWidth: Int,
                       conf: Float? = nil, iou: Double? = nil, masks: Bool = false) throws -> [Prediction] {
        guard !outputs.isEmpty else { throw slipwayError("the model gave no outputs") }
        let conf = conf ?? spec.confidenceThreshold, iou = iou ?? spec.iouThreshold
        switch spec.type {
        case "logits", "probabilities": return classify(outputs)
        case "set_prediction":
            return try setPrediction(outputs, t, imageHeight: imageHeight, imageWidth: imageWidth, conf: conf)
        case "semantic_logits":
            return try semantic(outputs, t, imageHeight: imageHeight, imageWidth: imageWidth, masks: masks)
        default:
            return try yolo(outputs, t, imageHeight: imageHeight, imageWidth: imageWidth, conf: conf, iou: iou,
                            masks: masks)
        }
    }

    // MARK: classification

    func classify(_ outputs: [Tensor]) -> [Prediction] {
        var scores = outputs[0].data.map { Double($0) }
        if spec.type == "logits", let top = scores.max() {  // softmax
            scores = scores.map { exp($0 - top) }
            let sum = scores.reduce(0, +)
            scores = scores.map { $0 / sum }
        }
        return ranked(scores).prefix(spec.topK ?? 5).map {
            Prediction(classId: $0, className: name($0), confidence: Float(scores[$0]))
        }
    }

    // MARK: YOLO grid and rows

    struct Candidates {
        var boxes: [[Float]] = []   // xyxy, or cx, cy, w, h, angle when rotated (input pixels)
        var scores: [Float] = []
        var classes: [Int] = []
        var extras: [[Float]] = []  // mask coefficients or keypoints
    }

    func candidates(_ outputs: [Tensor], conf: Float, _ t: Transform) throws -> Candidates {
        let out = outputs[0]
        guard out.shape.count >= 3 else { throw slipwayError("\(spec.type): expected a 3-D output, got \(out.shape)") }
        var c = Candidates()
        let layout: String
        if rows {  // (1, rows, 6 + extras): box, score, class, extras
            let count = out.shape[1], cols = out.shape[2]
            for r in 0..<count {
                let row = Array(out.data[(r * cols)..<((r + 1) * cols)])
                guard row[4] > conf else { continue }
                c.boxes.append(Array(row[0..<4]))
                c.scores.append(row[4])
                c.classes.append(Int(row[5]))  // truncated, as numpy's astype(int64)
                c.extras.append(Array(row[6...]))
            }
            layout = spec.boxFormat
        } else {  // (1, 4 + classes + extras, anchors): cx, cy, w, h in input pixels
            let channels = out.shape[1], anchors = out.shape[2], nc = classNames.count
            guard channels >= 4 + nc else {
                throw slipwayError("\(spec.type): the output has \(channels) channels, fewer than 4 + \(nc) classes")
            }
            for a in 0..<anchors {
                var best = out.data[4 * anchors + a], bestClass = 0
                for k in stride(from: 1, to: nc, by: 1) where out.data[(4 + k) * anchors + a] > best {
                    best = out.data[(4 + k) * anchors + a]
                    bestClass = k
                }
                guard best > conf else { continue }
                c.boxes.append((0..<4).map { out.data[$0 * anchors + a] })
                c.scores.append(best)
                c.classes.append(bestClass)
                c.extras.append((4 + nc..<channels).map { out.data[$0 * anchors + a] })
            }
            layout = rotated ? "xywhr" : "xywh"
        }
        for i in c.boxes.indices {
            var box = c.boxes[i]
            if spec.normalized {  // fractions of the input tensor's size
                box = [box[0] * Float(t.width), box[1] * Float(t.height), box[2] * Float(t.width), box[3] * Float(t.height)]
            }
            switch layout {
            case "xywhr":  // the angle is the last extra
                guard let angle = c.extras[i].popLast() else { throw slipwayError("\(spec.type): a rotated box without its angle") }
                box.append(angle)
            case "xywh":
                let hw = box[2] / 2, hh = box[3] / 2
                box = [box[0] - hw, box[1] - hh, box[0] + hw, box[1] + hh]
            case "xyxy": break
            default: throw slipwayError("unknown box_format in metadata.json: '\(layout)'")
            }
            guard !rotated || box.count == 5 else {
                throw slipwayError("\(spec.type): rotated boxes (decoded_type yolo_obb) need box_format 'xywhr' in "
                                   + "metadata.json, not '\(layout)'")
            }
            c.boxes[i] = box
        }
        return c
    }

    /// Indices of the detections kept, best first.
    func select(_ c: Candidates, iou: Double) -> [Int] {
        let maxDet = max(spec.maxDetections, 0)
        if rows { return Array(0..<min(c.scores.count, maxDet)) }  // final and ranked already
        let order = Array(ranked(c.scores).prefix(Postprocessor.maxNms))
        let step = spec.classAgnostic ? 0 : Postprocessor.classOffset
        let keep: [Int]
        if rotated {
            keep = Postprocessor.rotatedNms(order.map { i -> [Double] in
                let b = c.boxes[i], offset = Double(c.classes[i]) * step
                return [Double(b[0]) + offset, Double(b[1]) + offset, Double(b[2]), Double(b[3]), Double(b[4])]
            }, iou)
        } else {
            keep = Postprocessor.nms(order.map { i -> [Double] in
                let offset = Double(c.classes[i]) * step
                return c.boxes[i].map { Double($0) + offset }
            }, order.map { c.scores[$0] }, iou)
        }
        return keep.prefix(maxDet).map { order[$0] }
    }

    func yolo(_ outputs: [Tensor], _ t: Transform, imageHeight: Int, imageWidth: Int, conf: Float, iou: Double,
              masks: Bool) throws -> [Prediction] {
        let c = try candidates(outputs, conf: conf, t)
        func x(_ v: Float) -> Float { min(max((v - t.padX) / t.gainX, 0), Float(imageWidth)) }
        func y(_ v: Float) -> Float { min(max((v - t.padY) / t.gainY, 0), Float(imageHeight)) }
        var result: [Prediction] = []
        for k in select(c, iou: iou) {
            let box = c.boxes[k]
            var p = Prediction(classId: c.classes[k], className: name(c.classes[k]), confidence: c.scores[k])
            if rotated {
                Postprocessor.setRotated(&p, box, t)
            } else {
                p.bbox = [x(box[0]), y(box[1]), x(box[2]), y(box[3])]
                if p.bbox![2] <= p.bbox![0] || p.bbox![3] <= p.bbox![1] { continue }  // wholly in the padding
            }
            if let shape = spec.keypointShape, shape.count == 2 {
                let count = shape[0], dims = shape[1], extra = c.extras[k]
                guard extra.count >= count * dims else {
                    throw slipwayError("a detection has \(extra.count) keypoint values, keypoint_shape says \(count * dims)")
                }
                p.keypoints = (0..<count).map { n in
                    [x(extra[n * dims]), y(extra[n * dims + 1])] + Array(extra[(n * dims + 2)..<((n + 1) * dims)])
                }
            }
            if spec.maskPrototypes != nil && masks {
                guard outputs.count > 1 else { throw slipwayError("a segmentation model without its mask prototypes") }
                p.mask = try Postprocessor.instanceMask(c.extras[k], outputs[1], box, t, imageHeight, imageWidth)
            }
            result.append(p)
        }
        return result
    }

    /// A rotated box (input pixels) in the original image: rbox, corners and their bounds (not clipped).
    static func setRotated(_ p: inout Prediction, _ box: [Float], _ t: Transform) {
        let mapped = [(Double(box[0]) - Double(t.padX)) / Double(t.gainX), (Double(box[1]) - Double(t.padY)) / Double(t.gainY),
                      Double(box[2]) / Double(t.gainX), Double(box[3]) / Double(t.gainY), Double(box[4])]
        let corners = Postprocessor.corners(mapped)
        let xs = corners.map { $0[0] }, ys = corners.map { $0[1] }
        p.bbox = [xs.min()!, ys.min()!, xs.max()!, ys.max()!].map { Float($0) }
        p.rbox = mapped.map { Float($0) }
        p.polygon = corners.map { $0.map { Float($0) } }
    }

    /// One instance mask, as Ultralytics makes it: prototypes x coefficients upsampled to the input
    /// size, positive inside the box (input pixels), then the image's region resized to the image (> 0.5).
    static func instanceMask(_ coef: [Float], _ protos: Tensor, _ box: [Float], _ t: Transform, _ imageHeight: Int,
                             _ imageWidth: Int) throws -> Mask {
        guard protos.shape.count == 4, coef.count >= protos.shape[1] else {
            throw slipwayError("mask prototypes \(protos.shape) do not fit \(coef.count) coefficients")
        }
        let nm = protos.shape[1], mh = protos.shape[2], mw = protos.shape[3]
        var logits = [Float](repeating: 0, count: mh * mw)
        for j in 0..<nm {
            for i in 0..<(mh * mw) { logits[i] += coef[j] * protos.data[j * mh * mw + i] }
        }
        let upsampled = resizeBilinear(logits, mh, mw, t.height, t.width)
        var inside = [Float](repeating: 0, count: t.height * t.width)
        for r in 0..<t.height where Double(r) >= Double(box[1]) && Double(r) < Double(box[3]) {
            for col in 0..<t.width where Double(col) >= Double(box[0]) && Double(col) < Double(box[2]) {
                inside[r * t.width + col] = upsampled[r * t.width + col] > 0 ? 1 : 0
            }
        }
        let top = max(Int(Double(t.padY).rounded(.toNearestOrEven)), 0)
        let left = max(Int(Double(t.padX).rounded(.toNearestOrEven)), 0)
        let height = min(max(Int((Double(imageHeight) * Double(t.gainY)).rounded(.toNearestOrEven)), 1), t.height - top)
        let width = min(max(Int((Double(imageWidth) * Double(t.gainX)).rounded(.toNearestOrEven)), 1), t.width - left)
        guard height > 0, width > 0 else {
            return Mask(width: imageWidth, height: imageHeight, pixels: [UInt8](repeating: 0, count: imageWidth * imageHeight))
        }
        var region = [Float](repeating: 0, count: height * width)
        for r in 0..<height {
            for col in 0..<width { region[r * width + col] = inside[(top + r) * t.width + left + col] }
        }
        let resized = resizeBilinear(region, height, width, imageHeight, imageWidth)
        return Mask(width: imageWidth, height: imageHeight, pixels: resized.map { $0 > 0.5 ? 1 : 0 })
    }

    // MARK: set prediction (DETR-style)

    func setPrediction(_ outputs: [Tensor], _ t: Transform, imageHeight: Int, imageWidth: Int,
                       conf: Float) throws -> [Prediction] {
        guard spec.scoresIndex < outputs.count, (spec.boxesIndex ?? 0) < outputs.count else {
            throw slipwayError("scores_index / boxes_index in metadata.json point past the model's \(outputs.count) outputs")
        }
        let scoresOut = outputs[spec.scoresIndex]
        let queries = scoresOut.shape[1], width = scoresOut.shape[2]
        let boxesFirst = spec.boxesIndex == nil  // boxes, then the class scores, on one axis
        let classes = boxesFirst ? width - 4 : width
        let boxes = boxesFirst ? scoresOut.data : outputs[spec.boxesIndex!].data
        let boxStride = boxesFirst ? width : 4
        func logit(_ q: Int, _ k: Int) -> Float { scoresOut.data[q * width + (boxesFirst ? 4 : 0) + k] }
        var query: [Int] = [], label: [Int] = [], score: [Float] = []
        switch spec.scores {
        case "softmax":  // the last class means "no object"
            for q in 0..<queries {
                let top = (0..<classes).map { logit(q, $0) }.max()!
                let e = (0..<classes).map { exp(logit(q, $0) - top) }
                let sum = e.reduce(0, +)
                var best = 0
                for k in stride(from: 1, to: classes - 1, by: 1) where e[k] / sum > e[best] / sum { best = k }
                query.append(q)
                label.append(best)
                score.append(e[best] / sum)
            }
        case "sigmoid":  // the top_k (query, class) pairs
            var flat = [Float](repeating: 0, count: queries * classes)
            for q in 0..<queries {
                for k in 0..<classes { flat[q * classes + k] = 1 / (1 + exp(-logit(q, k))) }
            }
            let top = ranked(flat)
            for i in top.prefix(spec.topK.flatMap { $0 > 0 ? $0 : nil } ?? top.count) {
                query.append(i / classes)
                label.append(i % classes)
                score.append(flat[i])
            }
        case "max":  // already probabilities
            for q in 0..<queries {
                var best = 0
                for k in stride(from: 1, to: classes, by: 1) where logit(q, k) > logit(q, best) { best = k }
                query.append(q)
                label.append(best)
                score.append(logit(q, best))
            }
        default:
            throw slipwayError("unknown set_prediction scores in metadata.json: '\(spec.scores)'")
        }
        let kept = score.indices.filter { score[$0] > conf }
        func x(_ v: Double) -> Float { min(max((Float(v * Double(t.width)) - t.padX) / t.gainX, 0), Float(imageWidth)) }
        func y(_ v: Double) -> Float { min(max((Float(v * Double(t.height)) - t.padY) / t.gainY, 0), Float(imageHeight)) }
        return ranked(kept.map { score[$0] }).prefix(max(spec.maxDetections, 0)).map { n -> Prediction in
            let i = kept[n], b = query[i] * boxStride
            let cx = Double(boxes[b]), cy = Double(boxes[b + 1]), w = Double(boxes[b + 2]), h = Double(boxes[b + 3])
            var p = Prediction(classId: label[i], className: name(label[i]), confidence: score[i])
            p.bbox = [x(cx - 0.5 * w), y(cy - 0.5 * h), x(cx + 0.5 * w), y(cy + 0.5 * h)]
            return p
        }
    }

    // MARK: semantic segmentation

    /// The class of every pixel of the original image (row-major) and its winning probability: the
    /// logits resampled through the inverse of the preprocessing geometry ("inverse") or over the
    /// whole image ("stretch").
    public func classMap(_ outputs: [Tensor], _ t: Transform, imageHeight: Int, imageWidth: Int) throws
        -> (labels: [Int], best: [Float]) {
        let out = outputs[0]
        guard out.shape.count == 4 else { throw slipwayError("semantic_logits: expected a 4-D output, got \(out.shape)") }
        let classes = out.shape[1], h = out.shape[2], w = out.shape[3]
        let geometry: (sy: Double, oy: Double, sx: Double, ox: Double)
        switch spec.mapping {
        case "stretch":
            geometry = (Double(h) / Double(imageHeight), 0, Double(w) / Double(imageWidth), 0)
        case "inverse":  // original x -> tensor x * gain + pad -> logits * w / tensor width
            let ky = Double(h) / Double(t.height), kx = Double(w) / Double(t.width)
            geometry = (Double(t.gainY) * ky, Double(t.padY) * ky, Double(t.gainX) * kx, Double(t.padX) * kx)
        default:
            throw slipwayError("unknown semantic_logits mapping in metadata.json: '\(spec.mapping)'")
        }
        let xs = LinearTaps(size: imageWidth, scale: geometry.sx, offset: geometry.ox, length: w)
        let ys = LinearTaps(size: imageHeight, scale: geometry.sy, offset: geometry.oy, length: h)
        var cols = [Float](repeating: 0, count: classes * h * imageWidth)  // the columns first
        for c in 0..<classes {
            for row in 0..<h {
                let src = (c * h + row) * w, dst = (c * h + row) * imageWidth
                for col in 0..<imageWidth {
                    cols[dst + col] = out.data[src + xs.first[col]] * (1 - xs.weight[col])
                        + out.data[src + xs.second[col]] * xs.weight[col]
                }
            }
        }
        var labels = [Int](repeating: 0, count: imageHeight * imageWidth)
        var best = [Float](repeating: 0, count: imageHeight * imageWidth)
        var value = [Float](repeating: 0, count: classes)
        for row in 0..<imageHeight {
            let a = ys.weight[row], b = 1 - a
            for col in 0..<imageWidth {
                var top = 0
                for c in 0..<classes {
                    let plane = c * h * imageWidth
                    value[c] = cols[plane + ys.first[row] * imageWidth + col] * b + cols[plane + ys.second[row] * imageWidth + col] * a
                    if value[c] > value[top] { top = c }
                }
                let sum = value.reduce(Float(0)) { $0 + exp($1 - value[top]) }
                labels[row * imageWidth + col] = top
                best[row * imageWidth + col] = 1 / sum
            }
        }
        return (labels, best)
    }

    func semantic(_ outputs: [Tensor], _ t: Transform, imageHeight: Int, imageWidth: Int,
                  masks: Bool) throws -> [Prediction] {
        let (labels, best) = try classMap(outputs, t, imageHeight: imageHeight, imageWidth: imageWidth)
        var result: [Prediction] = []
        for id in Set(labels).sorted() {
            var pixels = 0, probability = 0.0
            var x1 = imageWidth, y1 = imageHeight, x2 = -1, y2 = -1
            for i in labels.indices where labels[i] == id {
                pixels += 1
                probability += Double(best[i])
                let row = i / imageWidth, col = i % imageWidth
                (x1, y1, x2, y2) = (min(x1, col), min(y1, row), max(x2, col), max(y2, row))
            }
            var p = Prediction(classId: id, className: name(id), confidence: Float(probability / Double(pixels)))
            p.area = Float(Double(pixels) / Double(imageHeight * imageWidth))
            p.bbox = [Float(x1), Float(y1), Float(x2 + 1), Float(y2 + 1)]
            if masks { p.mask = Mask(width: imageWidth, height: imageHeight, pixels: labels.map { $0 == id ? 1 : 0 }) }
            result.append(p)
        }
        // by area, largest first; ties keep the class order
        return result.enumerated().sorted { ($0.element.area!, -$0.offset) > ($1.element.area!, -$1.offset) }
            .map { $0.element }
    }

    // MARK: NMS and rotated boxes

    /// Greedy non-maximum suppression on xyxy boxes; kept indices, best first.
    public static func nms(_ boxes: [[Double]], _ scores: [Float], _ threshold: Double) -> [Int] {
        let order = ranked(scores)
        var removed = [Bool](repeating: false, count: boxes.count)
        var keep: [Int] = []
        for (n, i) in order.enumerated() where !removed[i] {
            keep.append(i)
            let a = boxes[i]
            let areaA = max(a[2] - a[0], 0) * max(a[3] - a[1], 0)
            for j in order[(n + 1)...] where !removed[j] {
                let b = boxes[j]
                let inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
                let areaB = max(b[2] - b[0], 0) * max(b[3] - b[1], 0)
                if !(inter / (areaA + areaB - inter + 1e-9) <= threshold) { removed[j] = true }
            }
        }
        return keep
    }

    /// Probabilistic IoU of two rotated boxes (cx, cy, w, h, angle), as Ultralytics computes it.
    public static func probiou(_ a: [Double], _ b: [Double]) -> Double {
        let eps = 1e-7
        func covariance(_ r: [Double]) -> (Double, Double, Double) {
            let vw = r[2] * r[2] / 12, vh = r[3] * r[3] / 12, c = cos(r[4]), s = sin(r[4])
            return (vw * (c * c) + vh * (s * s), vw * (s * s) + vh * (c * c), (vw - vh) * c * s)
        }
        let (a1, b1, c1) = covariance(a), (a2, b2, c2) = covariance(b)
        let dx = a[0] - b[0], dy = a[1] - b[1]
        let sa = a1 + a2, sb = b1 + b2, sc = c1 + c2
        let det = sa * sb - sc * sc
        let mahalanobis = (sa * (dy * dy) + sb * (dx * dx) - 2 * sc * dx * dy) / (det + eps) / 4
        let spread = (max(a1 * b1 - c1 * c1, 0) * max(a2 * b2 - c2 * c2, 0)).squareRoot()
        let bhattacharyya = min(max(mahalanobis + log(det / (4 * spread + eps) + eps) / 2, eps), 100)
        return 1 - (1 - exp(-bhattacharyya) + eps).squareRoot()
    }

    /// Fast-NMS over rotated boxes ranked best first: a box goes when any better box (kept or not)
    /// overlaps it by more than the threshold, as Ultralytics runs it.
    public static func rotatedNms(_ ranked: [[Double]], _ threshold: Double) -> [Int] {
        ranked.indices.filter { j in !(0..<j).contains { probiou(ranked[$0], ranked[j]) > threshold } }
    }

    /// A rotated box's four corners in Ultralytics' order (xywhr2xyxyxyxy).
    public static func corners(_ r: [Double]) -> [[Double]] {
        let c = cos(r[4]), s = sin(r[4])
        let along = [r[2] / 2 * c, r[2] / 2 * s], across = [-r[3] / 2 * s, r[3] / 2 * c]
        return [(1.0, 1.0), (1.0, -1.0), (-1.0, -1.0), (-1.0, 1.0)].map { (u, v) in
            [r[0] + u * along[0] + v * across[0], r[1] + u * along[1] + v * across[1]]
        }
    }
}

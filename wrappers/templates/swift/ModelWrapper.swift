// Slipway model wrapper for iOS / macOS: Core ML + Vision, with the exact pre- and
// post-processing of the original model. Everything model-specific (input size, resize
// method, fill value, colour order, output layout, NMS settings, class names) is read
// from metadata.json at run time.
import CoreGraphics
import CoreML
import Foundation
import Vision

public struct Prediction: Codable, Equatable {
    public let classId: Int
    public let className: String
    public let confidence: Float
    public let bbox: [Float]?  // absolute x1, y1, x2, y2 in the original image; nil for classifiers

    enum CodingKeys: String, CodingKey {
        case classId = "class_id", className = "class_name", confidence, bbox
    }
}

/// The parts of metadata.json the wrapper needs.
public struct ModelMetadata {
    public let task: String
    public let resizeMethod: String
    public let height: Int
    public let width: Int
    public let fillValue: Int
    public let cropPct: Double
    public let colorSpace: String
    public let postprocessing: String
    public let nmsInModel: Bool
    public let confidenceThreshold: Float
    public let iouThreshold: Float
    public let maxDetections: Int
    public let classAgnostic: Bool
    public let topK: Int
    public let outputNames: [String]
    public let classNames: [String]

    public init(url: URL) throws {
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let info = root["model_info"] as? [String: Any],
              let pre = root["preprocessing"] as? [String: Any],
              let resize = pre["resize"] as? [String: Any],
              let size = resize["size"] as? [Int],
              let post = root["postprocessing"] as? [String: Any],
              let classes = root["classes"] as? [[String: Any]] else {
            throw NSError(domain: "Slipway", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "metadata.json lacks model_info, preprocessing or classes"])
        }
        task = info["task"] as? String ?? "detect"
        resizeMethod = resize["method"] as? String ?? "resize"
        height = size[0]
        width = size[1]
        fillValue = resize["fill_value"] as? Int ?? 114
        cropPct = resize["crop_pct"] as? Double ?? 1.0
        colorSpace = (pre["format"] as? [String: Any])?["color_space"] as? String ?? "RGB"
        postprocessing = post["type"] as? String ?? ""
        let nms = post["nms"] as? [String: Any] ?? [:]
        nmsInModel = nms["in_model"] as? Bool ?? (postprocessing == "yolo_nms")
        confidenceThreshold = Float(nms["confidence_threshold"] as? Double ?? 0.25)
        iouThreshold = Float(nms["iou_threshold"] as? Double ?? 0.7)
        maxDetections = nms["max_detections"] as? Int ?? 300
        classAgnostic = nms["class_agnostic"] as? Bool ?? false
        topK = post["top_k"] as? Int ?? 5
        let outputs = (root["output_spec"] as? [String: Any])?["outputs"] as? [[String: Any]] ?? []
        outputNames = outputs.compactMap { $0["name"] as? String }
        let sorted = classes.sorted { ($0["id"] as? Int ?? 0) < ($1["id"] as? Int ?? 0) }
        classNames = sorted.map { $0["name"] as? String ?? "" }
    }
}

/// How a resized image maps back to the original: x = (x' - padX) / gainX.
struct Transform {
    var gainX: Float, gainY: Float, padX: Float, padY: Float
}

public final class ModelWrapper {
    public let metadata: ModelMetadata
    private let model: VNCoreMLModel

    /// modelURL: the compiled model (.mlmodelc) or the .mlpackage; metadataURL: metadata.json.
    public init(modelURL: URL, metadataURL: URL) throws {
        metadata = try ModelMetadata(url: metadataURL)
        let compiled = modelURL.pathExtension == "mlmodelc" ? modelURL : try MLModel.compileModel(at: modelURL)
        model = try VNCoreMLModel(for: try MLModel(contentsOf: compiled))
    }

    public func predict(_ image: CGImage, conf: Float? = nil, iou: Float? = nil) throws -> [Prediction] {
        let (input, transform) = try resize(image)
        let request = VNCoreMLRequest(model: model)
        request.imageCropAndScaleOption = .scaleFill  // already at the model's size: no second resize
        try VNImageRequestHandler(cgImage: input, options: [:]).perform([request])
        let observations = request.results as? [VNCoreMLFeatureValueObservation] ?? []
        var outputs: [String: MLMultiArray] = [:]
        for observation in observations {
            if let array = observation.featureValue.multiArrayValue { outputs[observation.featureName] = array }
        }
        let first = metadata.outputNames.first.flatMap { outputs[$0] } ?? observations.first?.featureValue.multiArrayValue
        guard let output = first else { return [] }
        if metadata.task == "classify" { return classify(output) }
        return detect(output, transform, imageHeight: image.height, imageWidth: image.width,
                      conf: conf ?? metadata.confidenceThreshold, iou: iou ?? metadata.iouThreshold)
    }

    // MARK: pre-processing

    /// Letterbox (pad with fill_value), plain resize or shorter-side resize + centre crop,
    /// exactly as metadata.json says.
    func resize(_ image: CGImage) throws -> (CGImage, Transform) {
        let h = Double(image.height), w = Double(image.width)
        let outW = metadata.width, outH = metadata.height
        var drawRect: CGRect
        var transform: Transform
        switch metadata.resizeMethod {
        case "letterbox":
            let gain = min(Double(outH) / h, Double(outW) / w)
            let newW = max((w * gain).rounded(.toNearestOrEven), 1), newH = max((h * gain).rounded(.toNearestOrEven), 1)
            let left = ((Double(outW) - newW) / 2 - 0.1).rounded(.toNearestOrEven)
            let top = ((Double(outH) - newH) / 2 - 0.1).rounded(.toNearestOrEven)
            drawRect = CGRect(x: left, y: top, width: newW, height: newH)
            transform = Transform(gainX: Float(newW / w), gainY: Float(newH / h), padX: Float(left), padY: Float(top))
        case "resize":
            drawRect = CGRect(x: 0, y: 0, width: Double(outW), height: Double(outH))
            transform = Transform(gainX: Float(Double(outW) / w), gainY: Float(Double(outH) / h), padX: 0, padY: 0)
        case "shorter_side_center_crop":
            let shorter = (Double(min(outH, outW)) / metadata.cropPct).rounded(.down)
            let newW = w <= h ? shorter : (shorter * w / h).rounded(.towardZero)
            let newH = w <= h ? (shorter * h / w).rounded(.towardZero) : shorter
            let left = ((newW - Double(outW)) / 2).rounded(.toNearestOrEven)
            let top = ((newH - Double(outH)) / 2).rounded(.toNearestOrEven)
            drawRect = CGRect(x: -left, y: -top, width: newW, height: newH)
            transform = Transform(gainX: Float(newW / w), gainY: Float(newH / h), padX: Float(-left), padY: Float(-top))
        default:
            throw NSError(domain: "Slipway", code: 2,
                          userInfo: [NSLocalizedDescriptionKey: "unknown resize method \(metadata.resizeMethod)"])
        }
        guard let context = CGContext(data: nil, width: outW, height: outH, bitsPerComponent: 8, bytesPerRow: 0,
                                      space: CGColorSpaceCreateDeviceRGB(),
                                      bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue) else {
            throw NSError(domain: "Slipway", code: 3, userInfo: [NSLocalizedDescriptionKey: "no drawing context"])
        }
        let fill = CGFloat(metadata.fillValue) / 255
        context.setFillColor(red: fill, green: fill, blue: fill, alpha: 1)
        context.fill(CGRect(x: 0, y: 0, width: outW, height: outH))
        context.interpolationQuality = .high
        // Core Graphics' origin is bottom-left: flip the rectangle's y
        let flipped = CGRect(x: drawRect.minX, y: Double(outH) - drawRect.maxY,
                             width: drawRect.width, height: drawRect.height)
        context.draw(image, in: flipped)
        guard let resized = context.makeImage() else {
            throw NSError(domain: "Slipway", code: 4, userInfo: [NSLocalizedDescriptionKey: "resize failed"])
        }
        return (resized, transform)
    }

    // MARK: post-processing

    func classify(_ output: MLMultiArray) -> [Prediction] {
        var scores = (0..<output.count).map { Double(output[$0].floatValue) }
        if metadata.postprocessing == "logits" {  // softmax
            let top = scores.max() ?? 0
            scores = scores.map { exp($0 - top) }
            let sum = scores.reduce(0, +)
            scores = scores.map { $0 / sum }
        }
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        return order.prefix(metadata.topK).map {
            Prediction(classId: $0, className: name($0), confidence: Float(scores[$0]), bbox: nil)
        }
    }

    func detect(_ output: MLMultiArray, _ t: Transform, imageHeight: Int, imageWidth: Int,
                conf: Float, iou: Float) -> [Prediction] {
        let shape = output.shape.map { $0.intValue }
        var boxes: [[Float]] = [], scores: [Float] = [], classes: [Int] = []
        func value(_ i: Int, _ j: Int) -> Float { output[[0, NSNumber(value: i), NSNumber(value: j)]].floatValue }
        var keep: [Int]
        if metadata.nmsInModel || metadata.postprocessing == "yolo_nms" {
            // NMS inside the model: rows of x1, y1, x2, y2, score, class
            for r in 0..<shape[1] where value(r, 4) > conf {
                boxes.append([value(r, 0), value(r, 1), value(r, 2), value(r, 3)])
                scores.append(value(r, 4))
                classes.append(Int(value(r, 5)))
            }
            keep = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        } else {
            // raw head (1, 4 + classes, anchors): cx, cy, w, h in input pixels, then class scores
            let nc = metadata.classNames.count
            for a in 0..<shape[2] {
                var best = value(4, a), bestClass = 0
                for c in 1..<max(nc, 1) where value(4 + c, a) > best {
                    best = value(4 + c, a)
                    bestClass = c
                }
                guard best > conf else { continue }
                let cx = value(0, a), cy = value(1, a), hw = value(2, a) / 2, hh = value(3, a) / 2
                boxes.append([cx - hw, cy - hh, cx + hw, cy + hh])
                scores.append(best)
                classes.append(bestClass)
            }
            let offset: Float = metadata.classAgnostic ? 0 : 7680
            let shifted = boxes.indices.map { i in boxes[i].map { $0 + Float(classes[i]) * offset } }
            keep = ModelWrapper.nms(shifted, scores, iou)
        }
        return keep.prefix(metadata.maxDetections).map { k in
            let b = boxes[k]
            let x1 = min(max((b[0] - t.padX) / t.gainX, 0), Float(imageWidth))
            let y1 = min(max((b[1] - t.padY) / t.gainY, 0), Float(imageHeight))
            let x2 = min(max((b[2] - t.padX) / t.gainX, 0), Float(imageWidth))
            let y2 = min(max((b[3] - t.padY) / t.gainY, 0), Float(imageHeight))
            return Prediction(classId: classes[k], className: name(classes[k]), confidence: scores[k],
                              bbox: [x1, y1, x2, y2])
        }
    }

    /// Greedy non-maximum suppression on xyxy boxes; kept indices, best first.
    static func nms(_ boxes: [[Float]], _ scores: [Float], _ threshold: Float) -> [Int] {
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
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
                if inter / (areaA + areaB - inter + 1e-9) > threshold { removed[j] = true }
            }
        }
        return keep
    }

    private func name(_ id: Int) -> String {
        id < metadata.classNames.count ? metadata.classNames[id] : String(id)
    }
}

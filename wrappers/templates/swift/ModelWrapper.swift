// Slipway model wrapper for iOS / macOS: Core ML + Vision, with the exact pre- and
// post-processing of the original model. Everything model-specific (the preprocessing
// steps, colour order, output layout, decoding and NMS settings, class names) is read from
// metadata.json at run time; the steps run in Preprocessing.swift, the decoding in
// Postprocessing.swift.
import CoreGraphics
import CoreML
import Foundation
import Vision

/// One prediction, in the Python wrapper's shape:
///   classify: one of the top-k classes (bbox nil);
///   detect / segment / pose / obb: bbox is absolute x1, y1, x2, y2 in the original image
///     (obb: the rotated box's bounds, with rbox and polygon); keypoints for pose; mask for
///     segment when asked for;
///   semantic: one class present in the image, bbox its extent, area its share of the image.
public struct Prediction: Codable, Equatable {
    public var classId: Int
    public var className: String
    public var confidence: Float
    public var bbox: [Float]?
    public var rbox: [Float]?          // obb: cx, cy, w, h, angle (radians) in the original image
    public var polygon: [[Float]]?     // obb: the four corners, in Ultralytics' order
    public var keypoints: [[Float]]?   // pose: [x, y(, visibility)] per keypoint
    public var mask: Mask?             // segment / semantic, when asked for: the original image's size
    public var area: Float?            // semantic: the fraction of the image's pixels

    public init(classId: Int, className: String, confidence: Float, bbox: [Float]? = nil) {
        self.classId = classId
        self.className = className
        self.confidence = confidence
        self.bbox = bbox
    }

    enum CodingKeys: String, CodingKey {
        case classId = "class_id", className = "class_name", confidence, bbox, rbox, polygon, keypoints, mask, area
    }
}

/// The parts of metadata.json the wrapper needs.
public struct ModelMetadata {
    public let task: String
    public let preprocessor: Preprocessor  // preprocessing.steps
    public let colorSpace: String
    public let postprocessor: Postprocessor  // postprocessing, with the class names
    public let outputNames: [String]
    public var classNames: [String] { postprocessor.classNames }

    public init(url: URL) throws {
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let info = root["model_info"] as? [String: Any],
              let pre = root["preprocessing"] as? [String: Any],
              let steps = pre["steps"] as? [[String: Any]],
              let post = root["postprocessing"] as? [String: Any],
              let classes = root["classes"] as? [[String: Any]] else {
            throw NSError(domain: "Slipway", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "metadata.json lacks model_info, preprocessing.steps (schema 2), postprocessing or classes"])
        }
        task = info["task"] as? String ?? "detect"
        for step in steps where !["resize", "center_crop", "pad"].contains(step["op"] as? String ?? "") {
            throw NSError(domain: "Slipway", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "unknown preprocessing step in metadata.json: \(step["op"] ?? "none")"])
        }
        preprocessor = try Preprocessor(steps: steps)
        colorSpace = (pre["format"] as? [String: Any])?["color_space"] as? String ?? "RGB"
        let outputs = (root["output_spec"] as? [String: Any])?["outputs"] as? [[String: Any]] ?? []
        outputNames = outputs.compactMap { $0["name"] as? String }
        let sorted = classes.sorted { ($0["id"] as? Int ?? 0) < ($1["id"] as? Int ?? 0) }
        postprocessor = try Postprocessor(post, classNames: sorted.map { $0["name"] as? String ?? "" })
    }
}

/// How the preprocessed image maps back to the original: x = (x' - padX) / gainX; width and
/// height are the model input's (what normalized boxes and masks scale to).
public struct Transform {
    var gainX: Float, gainY: Float, padX: Float, padY: Float
    var width: Int = 0, height: Int = 0
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

    /// masks: compute instance masks (segment) and per-class masks (semantic).
    public func predict(_ image: CGImage, conf: Float? = nil, iou: Double? = nil, masks: Bool = false) throws -> [Prediction] {
        let (outputs, transform) = try run(image)
        return try metadata.postprocessor.decode(outputs, transform, imageHeight: image.height, imageWidth: image.width,
                                                 conf: conf, iou: iou, masks: masks)
    }

    /// Semantic models: the class of every pixel (row-major, the image's size).
    public func classMap(_ image: CGImage) throws -> [Int] {
        let (outputs, transform) = try run(image)
        return try metadata.postprocessor.classMap(outputs, transform, imageHeight: image.height,
                                                   imageWidth: image.width).labels
    }

    /// Pre-process and run the model: its outputs in output_spec's order and the transform back.
    func run(_ image: CGImage) throws -> ([Tensor], Transform) {
        guard let rgb = RGBImage(cgImage: image) else {
            throw NSError(domain: "Slipway", code: 3, userInfo: [NSLocalizedDescriptionKey: "cannot read the image's pixels"])
        }
        let (prepared, applied) = metadata.preprocessor.apply(rgb)
        var transform = applied
        transform.width = prepared.width
        transform.height = prepared.height
        guard let input = prepared.cgImage() else {
            throw NSError(domain: "Slipway", code: 4, userInfo: [NSLocalizedDescriptionKey: "cannot build the model's input"])
        }
        let request = VNCoreMLRequest(model: model)
        request.imageCropAndScaleOption = .scaleFill  // already at the model's size: no second resize
        try VNImageRequestHandler(cgImage: input, options: [:]).perform([request])
        let observations = request.results as? [VNCoreMLFeatureValueObservation] ?? []
        var byName: [String: MLMultiArray] = [:]
        for observation in observations {
            if let array = observation.featureValue.multiArrayValue { byName[observation.featureName] = array }
        }
        let named = metadata.outputNames.compactMap { byName[$0] }
        let arrays = named.count == metadata.outputNames.count && !named.isEmpty
            ? named : observations.compactMap { $0.featureValue.multiArrayValue }
        return (arrays.map(ModelWrapper.tensor), transform)
    }

    /// An MLMultiArray (any strides, float32 / double / float16) as a row-major float32 Tensor.
    static func tensor(_ array: MLMultiArray) -> Tensor {
        let shape = array.shape.map { $0.intValue }, strides = array.strides.map { $0.intValue }
        let count = shape.reduce(1, *)
        var data = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: shape.count)
        for n in 0..<count {
            var offset = 0
            for d in shape.indices { offset += index[d] * strides[d] }
            switch array.dataType {
            case .float32: data[n] = array.dataPointer.assumingMemoryBound(to: Float.self)[offset]
            case .double: data[n] = Float(array.dataPointer.assumingMemoryBound(to: Double.self)[offset])
            default: data[n] = array[index.map { NSNumber(value: $0) }].floatValue
            }
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return Tensor(shape: shape, data: data)
    }
}

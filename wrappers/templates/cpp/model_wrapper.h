// Slipway model wrapper for C++: runs an exported model with the exact pre- and
// post-processing of its original. Everything about the model (input size, resize
// method, normalization, colour order, output layout, NMS settings, class names) is
// read from metadata.json at run time; nothing model-specific is compiled in.
//
// Backends (chosen in CMake with -DSLIPWAY_BACKEND=...):
//   onnxruntime  ONNX Runtime's C++ API (default)
//   opencv_dnn   OpenCV's DNN module, no ONNX Runtime needed
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace slipway {

// One detection (bbox: absolute x1, y1, x2, y2 in the original image) or one of a
// classifier's top-k classes (bbox empty).
struct Prediction {
    int class_id = 0;
    std::string class_name;
    float confidence = 0.0f;
    std::vector<float> bbox;
    std::vector<float> keypoints;  // pose models: keypoint_dims values (x, y[, visibility]) each
    int keypoint_dims = 0;
};

// A model output: its shape and float32 values (row-major).
struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> data;
};

// The input tensor the model takes: float32 NCHW / NHWC, or uint8 NHWC when the
// graph normalizes itself ("embedded" preprocessing).
struct InputTensor {
    std::vector<int64_t> shape;
    std::vector<float> values;      // float inputs
    std::vector<uint8_t> pixels;    // uint8 inputs
    bool is_uint8 = false;
};

// How a resized image maps back to the original: x_orig = (x - pad_x) / gain_x.
struct Transform {
    float gain_x = 1.0f, gain_y = 1.0f, pad_x = 0.0f, pad_y = 0.0f;
};

// Everything the wrapper takes from metadata.json.
struct Metadata {
    std::string task;                 // model_info.task: detect | classify | segment | pose
    std::string resize_method;        // preprocessing.resize.method
    int height = 0, width = 0;        // preprocessing.resize.size
    std::string interpolation;        // preprocessing.resize.interpolation
    bool antialias = false;           // preprocessing.resize.antialias
    int fill_value = 114;             // preprocessing.resize.fill_value
    double crop_pct = 1.0;            // preprocessing.resize.crop_pct
    double scale = 1.0 / 255.0;       // preprocessing.normalize.scale
    float mean[3] = {0, 0, 0};        // preprocessing.normalize.mean
    float std_dev[3] = {1, 1, 1};     // preprocessing.normalize.std
    bool bgr = false;                 // preprocessing.format.color_space == "BGR"
    bool embedded = false;            // preprocessing.embedded
    std::string input_name;           // input_spec.name
    std::string input_dtype;          // input_spec.dtype
    std::string input_layout;         // input_spec.format
    int batch = 1;                    // input_spec.shape[0] when fixed
    std::vector<std::string> output_names;  // output_spec.outputs[].name
    std::string postprocessing;       // postprocessing.type
    bool nms_in_model = false;        // postprocessing.nms.in_model
    float confidence_threshold = 0.25f;  // postprocessing.nms.confidence_threshold
    float iou_threshold = 0.7f;          // postprocessing.nms.iou_threshold
    int max_detections = 300;            // postprocessing.nms.max_detections
    bool class_agnostic = false;         // postprocessing.nms.class_agnostic
    int top_k = 5;                       // postprocessing.top_k
    std::vector<int> keypoint_shape;     // postprocessing.keypoint_shape
    std::vector<std::string> class_names;  // classes[].name, by id
};

Metadata load_metadata(const std::string& metadata_path);

// The runtime that executes the model file.
class Backend {
public:
    virtual ~Backend() = default;
    virtual std::vector<Tensor> run(const InputTensor& input) = 0;
};

std::unique_ptr<Backend> make_backend(const std::string& model_path, const Metadata& metadata);

class ModelWrapper {
public:
    ModelWrapper(const std::string& model_path, const std::string& metadata_path);

    // image: BGR as cv::imread gives it. conf / iou < 0 mean metadata's defaults.
    std::vector<Prediction> predict(const cv::Mat& bgr_image, float conf = -1.0f, float iou = -1.0f);

    // The resized image (RGB, or BGR when the model takes BGR) and its transform.
    cv::Mat resize(const cv::Mat& rgb, Transform& transform) const;
    InputTensor to_tensor(const cv::Mat& resized) const;

    const Metadata& metadata() const { return metadata_; }
    bool is_classifier() const { return metadata_.task == "classify"; }

private:
    std::vector<Prediction> classify(const std::vector<Tensor>& outputs) const;
    std::vector<Prediction> detect(const std::vector<Tensor>& outputs, const Transform& t,
                                   int image_h, int image_w, float conf, float iou) const;

    Metadata metadata_;
    std::unique_ptr<Backend> backend_;
};

// Greedy non-maximum suppression on xyxy boxes; kept indices, best first.
std::vector<int> nms(const std::vector<cv::Vec4f>& boxes, const std::vector<float>& scores,
                     float iou_threshold);

// Predictions as a JSON array, in the Python wrapper's shape.
std::string to_json(const std::vector<Prediction>& predictions, bool classifier);

}  // namespace slipway

// Slipway model wrapper for C++: runs an exported model with the exact pre- and
// post-processing of its original. Everything about the model (preprocessing
// steps, normalization, colour order, output layout, NMS settings, class names) is
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

// One prediction, in the Python wrapper's shape (see its module docstring):
//   classify: one of the top-k classes (bbox empty);
//   detect / segment / pose / obb: bbox is absolute x1, y1, x2, y2 in the original image
//     (obb: the rotated box's axis-aligned bounds);
//   semantic: one class present in the image (bbox: its extent, area: its share of the image).
struct Prediction {
    int class_id = 0;
    std::string class_name;
    float confidence = 0.0f;
    std::vector<float> bbox;
    std::vector<float> keypoints;  // pose: keypoint_dims values (x, y[, visibility]) per keypoint
    int keypoint_dims = 0;
    std::vector<float> rbox;       // obb: cx, cy, w, h, angle (radians) in the original image
    std::vector<float> polygon;    // obb: the four corners x1, y1, ..., x4, y4 (Ultralytics' order)
    cv::Mat mask;                  // segment / semantic, when asked for: CV_8U 0/1, original size
    float area = -1.0f;            // semantic: the fraction of the image's pixels (-1: none)
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

// How the preprocessed image maps back to the original: x_orig = (x - pad_x) / gain_x;
// width and height are the input tensor's (what normalized boxes and masks scale to).
struct Transform {
    float gain_x = 1.0f, gain_y = 1.0f, pad_x = 0.0f, pad_y = 0.0f;
    int width = 0, height = 0;
};

// One of preprocessing.steps, run in order on the RGB image (see core/metadata.py).
struct Step {
    std::string op;                   // resize | center_crop | pad
    std::string mode;                 // resize: exact | shortest_edge | longest_edge | fit
    int height = 0, width = 0;        // size [h, w]: resize exact/fit, center_crop, pad
    double fraction_h = 0, fraction_w = 0;  // center_crop: share of the shorter side (0: use size)
    int edge = 0, max_edge = 0;       // resize shortest_edge / longest_edge (max_edge 0: none)
    std::string rule;                 // resize: floor|detr|yolos|round|timm; center_crop: floor|round|floor_pad_floor
    std::string interpolation;        // nearest | bilinear | bicubic | lanczos | box | hamming | area
    bool antialias = true;            // true: as PIL resamples; false: cv::resize
    int multiple_of = 0;              // pad: up to a multiple instead of a size
    std::string position;             // pad: center | bottom_right
    int fill[3] = {0, 0, 0};          // center_crop / pad fill, RGB
};

// Everything the wrapper takes from metadata.json.
struct Metadata {
    std::string task;                 // model_info.task: detect | classify | segment | pose | obb | semantic
    std::vector<Step> steps;          // preprocessing.steps
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
    // postprocessing (core/metadata.py: Classification, YoloGrid, YoloRows, SetPrediction,
    // SemanticLogits); postprocessing.cpp decodes every type
    std::string postprocessing;       // type
    std::string decoded_type;         // decoded_type (the type itself when absent)
    float confidence_threshold = 0.25f;  // nms.confidence_threshold, or confidence_threshold
    double iou_threshold = 0.7;          // nms.iou_threshold
    int max_detections = 300;            // nms.max_detections, or max_detections
    bool class_agnostic = false;         // nms.class_agnostic
    int top_k = -1;                      // top_k (-1: absent)
    std::vector<int> keypoint_shape;     // keypoint_shape: [keypoints, 2 or 3]
    int mask_prototypes = -1;            // mask_prototypes (-1: absent, no masks)
    std::string box_format;              // rows: xyxy | xywh | xywhr
    bool normalized = false;             // rows: boxes are fractions of the input size
    std::string scores;                  // set_prediction: softmax | sigmoid | max
    int scores_index = 0;                // set_prediction: outputs[] holding the scores
    int boxes_index = -1;                // set_prediction: outputs[] holding the boxes (-1: in scores)
    std::string mapping = "inverse";     // semantic_logits: inverse | stretch
    std::vector<std::string> class_names;  // classes[].name, by id
};

// Reads metadata.json; an unknown postprocessing type is an error that names it.
Metadata load_metadata(const std::string& metadata_path);

// Pre-processing (preprocessing.cpp): the steps, then the tensor the model takes.
cv::Mat apply_steps(const Metadata& metadata, const cv::Mat& rgb, Transform& transform);
InputTensor to_tensor(const Metadata& metadata, const cv::Mat& image);
InputTensor preprocess(const Metadata& metadata, const cv::Mat& rgb, Transform& transform);
// The size a resize step gives an h x w image, computed as its library does.
cv::Size resized_size(int h, int w, const Step& step);
// Image.resize((width, height), filter) on an RGB CV_8UC3 image, exactly as PIL computes it.
cv::Mat pil_resize(const cv::Mat& image, int width, int height, const std::string& interpolation);

// The runtime that executes the model file.
class Backend {
public:
    virtual ~Backend() = default;
    virtual std::vector<Tensor> run(const InputTensor& input) = 0;
};

std::unique_ptr<Backend> make_backend(const std::string& model_path, const Metadata& metadata);

// Post-processing (postprocessing.cpp, segmentation.cpp): raw outputs -> predictions in the original image
// (image_h x image_w), as metadata.json's postprocessing section says, exactly as the Python
// wrapper's Postprocessor.decode. conf / iou < 0 mean metadata's defaults; masks: compute
// instance masks (segment) and per-class masks (semantic).
std::vector<Prediction> decode(const Metadata& metadata, const std::vector<Tensor>& outputs,
                               const Transform& transform, int image_h, int image_w,
                               float conf = -1.0f, double iou = -1.0, bool masks = false);
// semantic_logits: the class of every pixel of the original image (CV_32S, image_h x image_w).
cv::Mat class_map(const Metadata& metadata, const std::vector<Tensor>& outputs,
                  const Transform& transform, int image_h, int image_w);
// Whether postprocessing.cpp decodes this postprocessing type.
bool known_postprocessing(const std::string& type);

// What the decoders of postprocessing.cpp and segmentation.cpp share.
namespace detail {
std::string class_name(const Metadata& m, int id);
const Tensor& output(const std::vector<Tensor>& outputs, int index, const std::string& what);
int64_t dim(const Tensor& tensor, size_t axis, const std::string& what);
// One YOLO instance mask (CV_8U 0/1, image_h x image_w) from its coefficients and the prototypes.
cv::Mat instance_mask(const std::vector<float>& coef, const Tensor& protos, const std::vector<float>& box,
                      const Transform& t, int image_h, int image_w);
// semantic_logits: one prediction per class present, largest first.
std::vector<Prediction> semantic(const Metadata& m, const std::vector<Tensor>& outputs, const Transform& t,
                                 int image_h, int image_w, bool masks);
}  // namespace detail

// Greedy non-maximum suppression on xyxy boxes; kept indices, best first.
std::vector<int> nms(const std::vector<cv::Vec4d>& boxes, const std::vector<float>& scores,
                     double iou_threshold);
// Fast-NMS over rotated boxes (cx, cy, w, h, angle) ranked best first, as Ultralytics runs it:
// a box goes when any better box (kept or not) overlaps it by more than the threshold (probiou).
std::vector<int> rotated_nms(const std::vector<cv::Vec<double, 5>>& ranked, double iou_threshold);
// Probabilistic IoU of two rotated boxes (cx, cy, w, h, angle), as Ultralytics computes it.
double probiou(const cv::Vec<double, 5>& a, const cv::Vec<double, 5>& b);
// A rotated box's four corners, in Ultralytics' order (xywhr2xyxyxyxy).
std::vector<cv::Point2d> xywhr_corners(const cv::Vec<double, 5>& rbox);

class ModelWrapper {
public:
    ModelWrapper(const std::string& model_path, const std::string& metadata_path);

    // image: BGR as cv::imread gives it. conf / iou < 0 mean metadata's defaults; masks: fill
    // Prediction::mask (segment and semantic models).
    std::vector<Prediction> predict(const cv::Mat& bgr_image, float conf = -1.0f, double iou = -1.0,
                                    bool masks = false);
    // semantic models: the class of every pixel (CV_32S, the image's size).
    cv::Mat class_map(const cv::Mat& bgr_image);

    const Metadata& metadata() const { return metadata_; }
    bool is_classifier() const { return metadata_.task == "classify"; }

private:
    // Pre-process and run the model; the outputs (first batch item) and the transform.
    std::vector<Tensor> run(const cv::Mat& bgr_image, Transform& transform, cv::Size& image_size);

    Metadata metadata_;
    std::unique_ptr<Backend> backend_;
};

// Predictions as a JSON array, in the Python wrapper's shape; a mask is summarised as
// {"height", "width", "pixels"} (its size and how many pixels it covers), not printed whole.
std::string to_json(const std::vector<Prediction>& predictions);

}  // namespace slipway

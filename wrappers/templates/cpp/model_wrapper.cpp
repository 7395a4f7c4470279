// Slipway model wrapper for C++: metadata, backends and the wrapper itself (the
// pre-processing is in preprocessing.cpp, the post-processing in postprocessing.cpp).
// Mirrors runtimes/python/model_wrapper.py step for step, so both give the same
// predictions on the same image (runtimes/golden/ holds a reference answer).
#include "model_wrapper.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#if defined(SLIPWAY_BACKEND_OPENCV_DNN)
#include <opencv2/dnn.hpp>
#else
#include <onnxruntime_cxx_api.h>
#endif

namespace slipway {

namespace {

std::string text(const cv::FileNode& node, const std::string& fallback) {
    return node.isString() ? static_cast<std::string>(node) : fallback;
}

double number(const cv::FileNode& node, double fallback) {
    return (node.isInt() || node.isReal()) ? static_cast<double>(node) : fallback;
}

bool flag(const cv::FileNode& node, bool fallback) {
    // cv::FileStorage reads JSON true/false as the integers 1/0
    return node.isInt() ? static_cast<int>(node) != 0 : fallback;
}

void json_string(std::ostringstream& out, const std::string& value) {
    out << '"';
    for (unsigned char c : value) {
        if (c == '"' || c == '\\') {
            out << '\\' << c;
        } else if (c < 0x20) {
            char buffer[8];
            std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
            out << buffer;
        } else {
            out << c;
        }
    }
    out << '"';
}

void json_number(std::ostringstream& out, double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.9g", value);
    out << buffer;
}

}  // namespace

Metadata load_metadata(const std::string& metadata_path) {
    cv::FileStorage file(metadata_path, cv::FileStorage::READ | cv::FileStorage::FORMAT_JSON);
    if (!file.isOpened()) throw std::runtime_error("cannot read " + metadata_path);
    Metadata m;
    m.task = text(file["model_info"]["task"], "");
    const cv::FileNode pre = file["preprocessing"];
    for (const auto& node : pre["steps"]) {
        Step step;
        step.op = text(node["op"], "");
        step.mode = text(node["mode"], "");
        if (!node["size"].empty()) {
            step.height = static_cast<int>(node["size"][0]);
            step.width = static_cast<int>(node["size"][1]);
        }
        if (!node["fraction"].empty()) {
            step.fraction_h = number(node["fraction"][0], 0.0);
            step.fraction_w = number(node["fraction"][1], 0.0);
        }
        step.edge = static_cast<int>(number(node["edge"], 0));
        step.max_edge = static_cast<int>(number(node["max_edge"], 0));
        step.rule = text(node["rule"], step.op == "resize" ? "floor" : "round");
        step.interpolation = text(node["interpolation"], "bilinear");
        step.antialias = flag(node["antialias"], true);
        step.multiple_of = static_cast<int>(number(node["multiple_of"], 0));
        step.position = text(node["position"], "center");
        const int fill = step.op == "pad" ? 114 : 0;
        for (int c = 0; c < 3; ++c) step.fill[c] = static_cast<int>(number(node["fill"][c], fill));
        m.steps.push_back(step);
    }
    const cv::FileNode normalize = pre["normalize"];
    m.scale = number(normalize["scale"], 1.0 / 255.0);
    for (int c = 0; c < 3; ++c) {
        m.mean[c] = static_cast<float>(number(normalize["mean"][c], 0.0));
        m.std_dev[c] = static_cast<float>(number(normalize["std"][c], 1.0));
    }
    m.bgr = text(pre["format"]["color_space"], "RGB") == "BGR";
    m.embedded = flag(pre["embedded"], false);
    const cv::FileNode input = file["input_spec"];
    m.input_name = text(input["name"], "");
    m.input_dtype = text(input["dtype"], "float32");
    m.input_layout = text(input["format"], "NCHW");
    if (input["shape"][0].isInt()) m.batch = std::max(1, static_cast<int>(input["shape"][0]));
    for (const auto& output : file["output_spec"]["outputs"]) m.output_names.push_back(text(output["name"], ""));
    const cv::FileNode post = file["postprocessing"];
    m.postprocessing = text(post["type"], "");
    if (!known_postprocessing(m.postprocessing)) {
        throw std::runtime_error("unknown postprocessing type in metadata.json: '" + m.postprocessing + "'");
    }
    m.decoded_type = text(post["decoded_type"], m.postprocessing);
    // the thresholds sit in nms for YOLO types, at the top for set prediction
    const cv::FileNode nms_spec = post["nms"];
    m.confidence_threshold = static_cast<float>(
        number(nms_spec["confidence_threshold"], number(post["confidence_threshold"], 0.25)));
    m.iou_threshold = number(nms_spec["iou_threshold"], 0.7);
    m.max_detections = static_cast<int>(number(nms_spec["max_detections"], number(post["max_detections"], 300)));
    m.class_agnostic = flag(nms_spec["class_agnostic"], false);
    m.top_k = static_cast<int>(number(post["top_k"], -1));
    for (const auto& dim : post["keypoint_shape"]) m.keypoint_shape.push_back(static_cast<int>(dim));
    m.mask_prototypes = static_cast<int>(number(post["mask_prototypes"], -1));
    m.box_format = text(post["box_format"], m.decoded_type == "yolo_obb" ? "xywhr" : "xyxy");
    m.normalized = flag(post["normalized"], false);
    m.scores = text(post["scores"], "");
    m.scores_index = static_cast<int>(number(post["scores_index"], 0));
    m.boxes_index = static_cast<int>(number(post["boxes_index"], -1));  // absent: boxes lead the scores
    m.mapping = text(post["mapping"], "inverse");
    for (const auto& item : file["classes"]) {
        const int id = static_cast<int>(item["id"]);
        if (id >= static_cast<int>(m.class_names.size())) m.class_names.resize(id + 1);
        m.class_names[id] = text(item["name"], std::to_string(id));
    }
    if (m.task.empty() || pre["steps"].empty() || m.class_names.empty()) {
        throw std::runtime_error(metadata_path + " lacks model_info.task, preprocessing.steps (schema 2) or classes");
    }
    return m;
}

// --- backends ---------------------------------------------------------------

#if defined(SLIPWAY_BACKEND_OPENCV_DNN)

class OpenCvDnnBackend : public Backend {
public:
    OpenCvDnnBackend(const std::string& model_path, const Metadata& metadata)
        : net_(cv::dnn::readNetFromONNX(model_path)) {
        net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        for (const auto& name : metadata.output_names) {
            if (net_.getLayerId(name) < 0) {  // not a layer name: take the graph's own outputs
                output_names_ = net_.getUnconnectedOutLayersNames();
                return;
            }
            output_names_.push_back(name);
        }
    }

    std::vector<Tensor> run(const InputTensor& input) override {
        std::vector<int> dims(input.shape.begin(), input.shape.end());
        cv::Mat blob;
        if (input.is_uint8) {
            cv::Mat(dims, CV_8U, const_cast<uint8_t*>(input.pixels.data())).convertTo(blob, CV_32F);
        } else {
            blob = cv::Mat(dims, CV_32F, const_cast<float*>(input.values.data()));
        }
        net_.setInput(blob);
        std::vector<cv::Mat> results;
        net_.forward(results, output_names_);
        std::vector<Tensor> outputs;
        for (const auto& result : results) {
            cv::Mat values;
            result.convertTo(values, CV_32F);
            Tensor tensor;
            for (int d = 0; d < values.dims; ++d) tensor.shape.push_back(values.size[d]);
            const float* data = values.ptr<float>();
            tensor.data.assign(data, data + values.total());
            outputs.push_back(std::move(tensor));
        }
        return outputs;
    }

private:
    cv::dnn::Net net_;
    std::vector<std::string> output_names_;
};

std::unique_ptr<Backend> make_backend(const std::string& model_path, const Metadata& metadata) {
    return std::make_unique<OpenCvDnnBackend>(model_path, metadata);
}

#else

class OnnxRuntimeBackend : public Backend {
public:
    explicit OnnxRuntimeBackend(const std::string& model_path)
        : env_(ORT_LOGGING_LEVEL_WARNING, "slipway") {
        options_.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
#ifdef _WIN32
        const std::wstring wide_path(model_path.begin(), model_path.end());
        session_ = std::make_unique<Ort::Session>(env_, wide_path.c_str(), options_);
#else
        session_ = std::make_unique<Ort::Session>(env_, model_path.c_str(), options_);
#endif
        Ort::AllocatorWithDefaultOptions allocator;
        input_name_ = session_->GetInputNameAllocated(0, allocator).get();
        for (size_t i = 0; i < session_->GetOutputCount(); ++i) {
            output_names_.push_back(session_->GetOutputNameAllocated(i, allocator).get());
        }
    }

    std::vector<Tensor> run(const InputTensor& input) override {
        Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
        Ort::Value tensor = input.is_uint8
            ? Ort::Value::CreateTensor<uint8_t>(memory, const_cast<uint8_t*>(input.pixels.data()),
                                                input.pixels.size(), input.shape.data(), input.shape.size())
            : Ort::Value::CreateTensor<float>(memory, const_cast<float*>(input.values.data()),
                                              input.values.size(), input.shape.data(), input.shape.size());
        const char* input_names[] = {input_name_.c_str()};
        std::vector<const char*> output_names;
        for (const auto& name : output_names_) output_names.push_back(name.c_str());
        std::vector<Ort::Value> results = session_->Run(Ort::RunOptions{nullptr}, input_names, &tensor, 1,
                                                        output_names.data(), output_names.size());
        std::vector<Tensor> outputs;
        for (auto& result : results) {
            Ort::TensorTypeAndShapeInfo info = result.GetTensorTypeAndShapeInfo();
            Tensor out;
            out.shape = info.GetShape();
            const float* data = result.GetTensorData<float>();
            out.data.assign(data, data + info.GetElementCount());
            outputs.push_back(std::move(out));
        }
        return outputs;
    }

private:
    Ort::Env env_;
    Ort::SessionOptions options_;
    std::unique_ptr<Ort::Session> session_;
    std::string input_name_;
    std::vector<std::string> output_names_;
};

std::unique_ptr<Backend> make_backend(const std::string& model_path, const Metadata&) {
    return std::make_unique<OnnxRuntimeBackend>(model_path);
}

#endif

// --- the wrapper --------------------------------------------------------------

ModelWrapper::ModelWrapper(const std::string& model_path, const std::string& metadata_path)
    : metadata_(load_metadata(metadata_path)), backend_(make_backend(model_path, metadata_)) {}

std::vector<Tensor> ModelWrapper::run(const cv::Mat& bgr_image, Transform& transform, cv::Size& image_size) {
    if (bgr_image.empty()) throw std::runtime_error("empty image");
    cv::Mat rgb;
    if (bgr_image.channels() == 1) {
        cv::cvtColor(bgr_image, rgb, cv::COLOR_GRAY2RGB);
    } else if (bgr_image.channels() == 4) {
        cv::cvtColor(bgr_image, rgb, cv::COLOR_BGRA2RGB);
    } else {
        cv::cvtColor(bgr_image, rgb, cv::COLOR_BGR2RGB);
    }
    image_size = rgb.size();
    InputTensor input = preprocess(metadata_, rgb, transform);
    const bool nchw = !input.is_uint8 && metadata_.input_layout == "NCHW";
    transform.height = static_cast<int>(input.shape[nchw ? 2 : 1]);
    transform.width = static_cast<int>(input.shape[nchw ? 3 : 2]);
    const int batch = metadata_.batch;
    if (batch > 1) {  // a fixed-batch export: fill the batch, keep the first result
        input.shape[0] = batch;
        const size_t n = input.is_uint8 ? input.pixels.size() : input.values.size();
        for (int b = 1; b < batch; ++b) {
            if (input.is_uint8) input.pixels.insert(input.pixels.end(), input.pixels.begin(), input.pixels.begin() + n);
            else input.values.insert(input.values.end(), input.values.begin(), input.values.begin() + n);
        }
    }
    std::vector<Tensor> outputs = backend_->run(input);
    if (batch > 1) {
        for (auto& out : outputs) {
            out.data.resize(out.data.size() / batch);
            out.shape[0] = 1;
        }
    }
    return outputs;
}

std::vector<Prediction> ModelWrapper::predict(const cv::Mat& bgr_image, float conf, double iou, bool masks) {
    Transform transform;
    cv::Size size;
    const std::vector<Tensor> outputs = run(bgr_image, transform, size);
    return decode(metadata_, outputs, transform, size.height, size.width, conf, iou, masks);
}

cv::Mat ModelWrapper::class_map(const cv::Mat& bgr_image) {
    Transform transform;
    cv::Size size;
    const std::vector<Tensor> outputs = run(bgr_image, transform, size);
    return slipway::class_map(metadata_, outputs, transform, size.height, size.width);
}

std::string to_json(const std::vector<Prediction>& predictions) {
    std::ostringstream out;
    auto numbers = [&](const std::vector<float>& values, size_t group) {
        // [a, b, ...], or [[a, b], [c, d], ...] in groups of `group`
        out << '[';
        for (size_t j = 0; j < values.size(); ++j) {
            if (group > 1) out << (j % group == 0 ? (j ? "], [" : "[") : ", ");
            else if (j) out << ", ";
            json_number(out, values[j]);
        }
        out << (group > 1 && !values.empty() ? "]]" : "]");
    };
    out << '[';
    for (size_t i = 0; i < predictions.size(); ++i) {
        const Prediction& p = predictions[i];
        if (i) out << ", ";
        out << "{\"class_id\": " << p.class_id << ", \"class_name\": ";
        json_string(out, p.class_name);
        out << ", \"confidence\": ";
        json_number(out, p.confidence);
        if (!p.bbox.empty()) {
            out << ", \"bbox\": ";
            numbers(p.bbox, 1);
        }
        if (p.area >= 0.0f) {
            out << ", \"area\": ";
            json_number(out, p.area);
        }
        if (!p.rbox.empty()) {
            out << ", \"rbox\": ";
            numbers(p.rbox, 1);
            out << ", \"polygon\": ";
            numbers(p.polygon, 2);
        }
        if (!p.keypoints.empty()) {
            out << ", \"keypoints\": ";
            numbers(p.keypoints, static_cast<size_t>(std::max(p.keypoint_dims, 1)));
        }
        if (!p.mask.empty()) {
            out << ", \"mask\": {\"height\": " << p.mask.rows << ", \"width\": " << p.mask.cols
                << ", \"pixels\": " << cv::countNonZero(p.mask) << '}';
        }
        out << '}';
    }
    out << ']';
    return out.str();
}

}  // namespace slipway

// Slipway model wrapper for C++: pre-processing, backends and post-processing.
// Mirrors runtimes/python/model_wrapper.py step for step, so both give the same
// predictions on the same image (runtimes/golden/ holds a reference answer).
#include "model_wrapper.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
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

// Python's round(): halves go to the even neighbour.
int py_round(double value) { return static_cast<int>(std::nearbyint(value)); }

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

int interpolation_flag(const std::string& name) {
    static const std::map<std::string, int> flags = {
        {"nearest", cv::INTER_NEAREST}, {"linear", cv::INTER_LINEAR}, {"bilinear", cv::INTER_LINEAR},
        {"cubic", cv::INTER_CUBIC},     {"bicubic", cv::INTER_CUBIC}, {"area", cv::INTER_AREA},
        {"lanczos", cv::INTER_LANCZOS4},
    };
    auto found = flags.find(name);
    if (found == flags.end()) throw std::runtime_error("unknown interpolation in metadata.json: " + name);
    return found->second;
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
    const cv::FileNode resize = pre["resize"];
    m.resize_method = text(resize["method"], "");
    m.height = static_cast<int>(resize["size"][0]);
    m.width = static_cast<int>(resize["size"][1]);
    m.interpolation = text(resize["interpolation"], "linear");
    m.antialias = flag(resize["antialias"], false);
    m.fill_value = static_cast<int>(number(resize["fill_value"], 114));
    m.crop_pct = number(resize["crop_pct"], 1.0);
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
    const cv::FileNode nms_spec = post["nms"];
    m.nms_in_model = flag(nms_spec["in_model"], m.postprocessing == "yolo_nms");
    m.confidence_threshold = static_cast<float>(number(nms_spec["confidence_threshold"], 0.25));
    m.iou_threshold = static_cast<float>(number(nms_spec["iou_threshold"], 0.7));
    m.max_detections = static_cast<int>(number(nms_spec["max_detections"], 300));
    m.class_agnostic = flag(nms_spec["class_agnostic"], false);
    m.top_k = static_cast<int>(number(post["top_k"], 5));
    for (const auto& dim : post["keypoint_shape"]) m.keypoint_shape.push_back(static_cast<int>(dim));
    for (const auto& item : file["classes"]) {
        const int id = static_cast<int>(item["id"]);
        if (id >= static_cast<int>(m.class_names.size())) m.class_names.resize(id + 1);
        m.class_names[id] = text(item["name"], std::to_string(id));
    }
    if (m.task.empty() || m.resize_method.empty() || m.height <= 0 || m.width <= 0 || m.class_names.empty()) {
        throw std::runtime_error(metadata_path + " lacks model_info.task, preprocessing.resize or classes");
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

namespace {

cv::Mat resized(const cv::Mat& image, int width, int height, const Metadata& m) {
    // PIL-based pipelines low-pass filter when they shrink; area interpolation follows them
    const bool shrinking = width < image.cols && height < image.rows;
    const int method = (m.antialias && shrinking) ? cv::INTER_AREA : interpolation_flag(m.interpolation);
    cv::Mat out;
    cv::resize(image, out, cv::Size(width, height), 0, 0, method);
    return out;
}

}  // namespace

cv::Mat ModelWrapper::resize(const cv::Mat& rgb, Transform& t) const {
    const Metadata& m = metadata_;
    const int h = rgb.rows, w = rgb.cols;
    if (m.resize_method == "letterbox") {  // keep the aspect ratio, pad with fill_value, centred
        const double gain = std::min(static_cast<double>(m.height) / h, static_cast<double>(m.width) / w);
        const int new_w = std::max(py_round(w * gain), 1), new_h = std::max(py_round(h * gain), 1);
        cv::Mat image = (new_w != w || new_h != h) ? resized(rgb, new_w, new_h, m) : rgb;
        const double dw = (m.width - new_w) / 2.0, dh = (m.height - new_h) / 2.0;
        const int top = py_round(dh - 0.1), bottom = py_round(dh + 0.1);
        const int left = py_round(dw - 0.1), right = py_round(dw + 0.1);
        cv::Mat out;
        cv::copyMakeBorder(image, out, top, bottom, left, right, cv::BORDER_CONSTANT,
                           cv::Scalar(m.fill_value, m.fill_value, m.fill_value));
        t = {static_cast<float>(static_cast<double>(new_w) / w), static_cast<float>(static_cast<double>(new_h) / h),
             static_cast<float>(left), static_cast<float>(top)};
        return out;
    }
    if (m.resize_method == "resize") {
        t = {static_cast<float>(static_cast<double>(m.width) / w), static_cast<float>(static_cast<double>(m.height) / h),
             0.0f, 0.0f};
        return resized(rgb, m.width, m.height, m);
    }
    if (m.resize_method == "shorter_side_center_crop") {
        const int shorter = static_cast<int>(std::floor(std::min(m.height, m.width) / m.crop_pct));
        int new_w, new_h;
        if (w <= h) {
            new_w = shorter;
            new_h = static_cast<int>(static_cast<double>(shorter) * h / w);
        } else {
            new_w = static_cast<int>(static_cast<double>(shorter) * w / h);
            new_h = shorter;
        }
        cv::Mat image = resized(rgb, new_w, new_h, m);
        const int top = py_round((new_h - m.height) / 2.0), left = py_round((new_w - m.width) / 2.0);
        t = {static_cast<float>(static_cast<double>(new_w) / w), static_cast<float>(static_cast<double>(new_h) / h),
             static_cast<float>(-left), static_cast<float>(-top)};
        return image(cv::Rect(left, top, m.width, m.height)).clone();
    }
    throw std::runtime_error("unknown resize method in metadata.json: " + m.resize_method);
}

InputTensor ModelWrapper::to_tensor(const cv::Mat& image) const {
    const Metadata& m = metadata_;
    InputTensor input;
    const int h = image.rows, w = image.cols;
    if (m.embedded) {  // the graph normalizes: uint8 pixels, NHWC
        input.is_uint8 = true;
        input.shape = {1, h, w, 3};
        cv::Mat contiguous = image.isContinuous() ? image : image.clone();
        input.pixels.assign(contiguous.data, contiguous.data + contiguous.total() * 3);
        return input;
    }
    // (x * scale - mean) / std == x * (scale / std) - mean / std, in float32 like the
    // Python wrapper; the constants follow the channel order the model takes
    float mul[3], add[3];
    for (int c = 0; c < 3; ++c) {
        const int source = m.bgr ? 2 - c : c;
        mul[c] = static_cast<float>(m.scale) / m.std_dev[source];
        add[c] = -m.mean[source] / m.std_dev[source];
    }
    const bool nchw = m.input_layout == "NCHW";
    input.shape = nchw ? std::vector<int64_t>{1, 3, h, w} : std::vector<int64_t>{1, h, w, 3};
    input.values.resize(static_cast<size_t>(3) * h * w);
    for (int y = 0; y < h; ++y) {
        const cv::Vec3b* row = image.ptr<cv::Vec3b>(y);
        for (int x = 0; x < w; ++x) {
            for (int c = 0; c < 3; ++c) {
                float value = static_cast<float>(row[x][c]) * mul[c];
                if (add[c] != 0.0f) value += add[c];
                const size_t index = nchw ? (static_cast<size_t>(c) * h + y) * w + x
                                          : (static_cast<size_t>(y) * w + x) * 3 + c;
                input.values[index] = value;
            }
        }
    }
    return input;
}

std::vector<int> nms(const std::vector<cv::Vec4f>& boxes, const std::vector<float>& scores, float iou_threshold) {
    std::vector<int> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
    std::vector<float> areas(boxes.size());
    for (size_t i = 0; i < boxes.size(); ++i) {
        areas[i] = std::max(boxes[i][2] - boxes[i][0], 0.0f) * std::max(boxes[i][3] - boxes[i][1], 0.0f);
    }
    std::vector<int> keep;
    std::vector<bool> removed(boxes.size(), false);
    for (size_t n = 0; n < order.size(); ++n) {
        const int i = order[n];
        if (removed[i]) continue;
        keep.push_back(i);
        for (size_t r = n + 1; r < order.size(); ++r) {
            const int j = order[r];
            if (removed[j]) continue;
            const float iw = std::max(std::min(boxes[i][2], boxes[j][2]) - std::max(boxes[i][0], boxes[j][0]), 0.0f);
            const float ih = std::max(std::min(boxes[i][3], boxes[j][3]) - std::max(boxes[i][1], boxes[j][1]), 0.0f);
            const float inter = iw * ih;
            if (inter / (areas[i] + areas[j] - inter + 1e-9f) > iou_threshold) removed[j] = true;
        }
    }
    return keep;
}

std::vector<Prediction> ModelWrapper::classify(const std::vector<Tensor>& outputs) const {
    std::vector<double> scores(outputs.at(0).data.begin(), outputs.at(0).data.end());
    if (metadata_.postprocessing == "logits") {  // softmax
        const double top = *std::max_element(scores.begin(), scores.end());
        double sum = 0.0;
        for (double& s : scores) sum += (s = std::exp(s - top));
        for (double& s : scores) s /= sum;
    }
    std::vector<int> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
    std::vector<Prediction> result;
    for (int n = 0; n < std::min<int>(metadata_.top_k, static_cast<int>(order.size())); ++n) {
        const int id = order[n];
        const std::string name = id < static_cast<int>(metadata_.class_names.size())
            ? metadata_.class_names[id] : std::to_string(id);
        result.push_back({id, name, static_cast<float>(scores[id]), {}, {}});
    }
    return result;
}

std::vector<Prediction> ModelWrapper::detect(const std::vector<Tensor>& outputs, const Transform& t,
                                             int image_h, int image_w, float conf, float iou) const {
    const Metadata& m = metadata_;
    const Tensor& out = outputs.at(0);
    std::vector<cv::Vec4f> boxes;
    std::vector<float> scores;
    std::vector<int> classes;
    std::vector<std::vector<float>> extras;
    std::vector<int> keep;
    if (m.nms_in_model || m.postprocessing == "yolo_nms") {
        // NMS inside the graph: rows of x1, y1, x2, y2, score, class[, extras]
        const int64_t rows = out.shape.at(1), cols = out.shape.at(2);
        for (int64_t r = 0; r < rows; ++r) {
            const float* row = out.data.data() + r * cols;
            if (!(row[4] > conf)) continue;
            boxes.emplace_back(row[0], row[1], row[2], row[3]);
            scores.push_back(row[4]);
            classes.push_back(static_cast<int>(row[5]));
            extras.emplace_back(row + 6, row + cols);
        }
        keep.resize(scores.size());
        std::iota(keep.begin(), keep.end(), 0);
        std::stable_sort(keep.begin(), keep.end(), [&](int a, int b) { return scores[a] > scores[b]; });
    } else {
        // raw head: (1, 4 + classes + extras, anchors), cx, cy, w, h in input pixels
        const int64_t channels = out.shape.at(1), anchors = out.shape.at(2);
        const int nc = static_cast<int>(m.class_names.size());
        for (int64_t a = 0; a < anchors; ++a) {
            int best_class = 0;
            float best = out.data[4 * anchors + a];
            for (int c = 1; c < nc; ++c) {
                const float score = out.data[(4 + c) * anchors + a];
                if (score > best) {
                    best = score;
                    best_class = c;
                }
            }
            if (!(best > conf)) continue;
            const float cx = out.data[a], cy = out.data[anchors + a];
            const float hw = out.data[2 * anchors + a] / 2, hh = out.data[3 * anchors + a] / 2;
            boxes.emplace_back(cx - hw, cy - hh, cx + hw, cy + hh);
            scores.push_back(best);
            classes.push_back(best_class);
            std::vector<float> extra;
            for (int64_t c = 4 + nc; c < channels; ++c) extra.push_back(out.data[c * anchors + a]);
            extras.push_back(std::move(extra));
        }
        // class-aware NMS: shift each class's boxes apart unless metadata says agnostic
        const float offset = m.class_agnostic ? 0.0f : 7680.0f;
        std::vector<cv::Vec4f> shifted(boxes);
        for (size_t i = 0; i < shifted.size(); ++i) shifted[i] += cv::Vec4f::all(classes[i] * offset);
        keep = nms(shifted, scores, iou);
    }
    if (static_cast<int>(keep.size()) > m.max_detections) keep.resize(m.max_detections);
    auto to_x = [&](float x) { return std::clamp((x - t.pad_x) / t.gain_x, 0.0f, static_cast<float>(image_w)); };
    auto to_y = [&](float y) { return std::clamp((y - t.pad_y) / t.gain_y, 0.0f, static_cast<float>(image_h)); };
    std::vector<Prediction> result;
    for (int k : keep) {
        Prediction p;
        p.class_id = classes[k];
        p.class_name = p.class_id < static_cast<int>(m.class_names.size())
            ? m.class_names[p.class_id] : std::to_string(p.class_id);
        p.confidence = scores[k];
        p.bbox = {to_x(boxes[k][0]), to_y(boxes[k][1]), to_x(boxes[k][2]), to_y(boxes[k][3])};
        if (m.postprocessing == "yolo_pose" && m.keypoint_shape.size() == 2) {
            const int dims = m.keypoint_shape[1];
            p.keypoint_dims = dims;
            for (int n = 0; n < m.keypoint_shape[0] && (n + 1) * dims <= static_cast<int>(extras[k].size()); ++n) {
                p.keypoints.push_back(to_x(extras[k][n * dims]));
                p.keypoints.push_back(to_y(extras[k][n * dims + 1]));
                if (dims > 2) p.keypoints.push_back(extras[k][n * dims + 2]);
            }
        }
        result.push_back(std::move(p));
    }
    return result;
}

std::vector<Prediction> ModelWrapper::predict(const cv::Mat& bgr_image, float conf, float iou) {
    if (bgr_image.empty()) throw std::runtime_error("empty image");
    cv::Mat rgb;
    if (bgr_image.channels() == 1) {
        cv::cvtColor(bgr_image, rgb, cv::COLOR_GRAY2RGB);
    } else if (bgr_image.channels() == 4) {
        cv::cvtColor(bgr_image, rgb, cv::COLOR_BGRA2RGB);
    } else {
        cv::cvtColor(bgr_image, rgb, cv::COLOR_BGR2RGB);
    }
    Transform transform;
    cv::Mat image = resize(rgb, transform);
    if (metadata_.bgr) cv::cvtColor(image, image, cv::COLOR_RGB2BGR);  // a model that takes OpenCV's order
    InputTensor input = to_tensor(image);
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
    if (is_classifier()) return classify(outputs);
    conf = conf < 0 ? metadata_.confidence_threshold : conf;
    iou = iou < 0 ? metadata_.iou_threshold : iou;
    return detect(outputs, transform, rgb.rows, rgb.cols, conf, iou);
}

std::string to_json(const std::vector<Prediction>& predictions, bool classifier) {
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < predictions.size(); ++i) {
        const Prediction& p = predictions[i];
        if (i) out << ", ";
        out << "{\"class_id\": " << p.class_id << ", \"class_name\": ";
        json_string(out, p.class_name);
        out << ", \"confidence\": ";
        json_number(out, p.confidence);
        if (!classifier) {
            out << ", \"bbox\": [";
            for (size_t j = 0; j < p.bbox.size(); ++j) {
                if (j) out << ", ";
                json_number(out, p.bbox[j]);
            }
            out << ']';
        }
        if (!p.keypoints.empty()) {
            out << ", \"keypoints\": [";
            const size_t dims = static_cast<size_t>(std::max(p.keypoint_dims, 1));
            for (size_t j = 0; j < p.keypoints.size(); ++j) {
                out << (j % dims == 0 ? (j ? "], [" : "[") : ", ");
                json_number(out, p.keypoints[j]);
            }
            out << "]]";
        }
        out << '}';
    }
    out << ']';
    return out.str();
}

}  // namespace slipway

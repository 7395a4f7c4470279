// Slipway post-processing for C++: raw model outputs -> predictions in the original
// image, for every postprocessing type of metadata.json (core/metadata.py), exactly as
// runtimes/python/model_wrapper.py decodes them:
//   logits / probabilities          top-k classes
//   yolo_detect|segment|pose|obb    the anchor grid: confidence filter, class-aware NMS
//                                   (rotated boxes: probiou Fast-NMS), keypoints, masks
//   yolo_nms / yolo_end2end         rows of final detections (xyxy | xywh | xywhr, normalized)
//   set_prediction                  DETR-style queries: softmax | sigmoid top-k | max
//   semantic_logits                 per-pixel logits resampled onto the image, per-class segments
// (instance masks and semantic segmentation are in segmentation.cpp). The arithmetic follows the Python wrapper's precision (float32 where it computes in
// float32, double where it computes in float64), so both make the same decisions.
#include "model_wrapper.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace slipway {

namespace detail {

std::string class_name(const Metadata& m, int id) {
    return id >= 0 && id < static_cast<int>(m.class_names.size()) ? m.class_names[id] : std::to_string(id);
}

const Tensor& output(const std::vector<Tensor>& outputs, int index, const std::string& what) {
    if (index < 0 || index >= static_cast<int>(outputs.size())) {
        throw std::runtime_error(what + " is output " + std::to_string(index) + " in metadata.json, but the model gave " +
                                 std::to_string(outputs.size()) + " outputs");
    }
    return outputs[index];
}

int64_t dim(const Tensor& tensor, size_t axis, const std::string& what) {
    if (axis >= tensor.shape.size()) {
        throw std::runtime_error(what + ": the output has " + std::to_string(tensor.shape.size()) +
                                 " dimensions, expected more than " + std::to_string(axis));
    }
    return tensor.shape[axis];
}

}  // namespace detail

namespace {

using detail::class_name;
using detail::dim;
using detail::output;

// Indices sorted by score, best first; ties keep their order (numpy's stable argsort).
template <typename T>
std::vector<int> ranked(const std::vector<T>& scores) {
    std::vector<int> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
    return order;
}

// Model input pixels -> original image, clipped to it (in float32, as the Python wrapper).
float to_x(float x, const Transform& t, int image_w) {
    return std::clamp((x - t.pad_x) / t.gain_x, 0.0f, static_cast<float>(image_w));
}
float to_y(float y, const Transform& t, int image_h) {
    return std::clamp((y - t.pad_y) / t.gain_y, 0.0f, static_cast<float>(image_h));
}

constexpr int MAX_NMS = 30000;          // Ultralytics keeps at most this many candidates before NMS
constexpr double CLASS_OFFSET = 7680.0;  // class-aware NMS: each class's boxes shifted this far apart

using Rbox = cv::Vec<double, 5>;

// --- classification -----------------------------------------------------------

std::vector<Prediction> classify(const Metadata& m, const std::vector<Tensor>& outputs) {
    const Tensor& out = output(outputs, 0, "the class scores");
    std::vector<double> scores(out.data.begin(), out.data.end());
    if (m.postprocessing == "logits" && !scores.empty()) {  // softmax
        const double top = *std::max_element(scores.begin(), scores.end());
        double sum = 0.0;
        for (double& s : scores) sum += (s = std::exp(s - top));
        for (double& s : scores) s /= sum;
    }
    const std::vector<int> order = ranked(scores);
    const int k = std::min(m.top_k < 0 ? 5 : m.top_k, static_cast<int>(order.size()));
    std::vector<Prediction> result;
    for (int n = 0; n < k; ++n) {
        Prediction p;
        p.class_id = order[n];
        p.class_name = class_name(m, p.class_id);
        p.confidence = static_cast<float>(scores[p.class_id]);
        result.push_back(std::move(p));
    }
    return result;
}

// --- YOLO: anchor grid and rows ---------------------------------------------------

struct Candidates {
    std::vector<std::vector<float>> boxes;  // xyxy, or cx, cy, w, h, angle when rotated (input pixels)
    std::vector<float> scores;
    std::vector<int> classes;
    std::vector<std::vector<float>> extras;  // mask coefficients or keypoints
};

bool is_rows(const Metadata& m) { return m.postprocessing == "yolo_nms" || m.postprocessing == "yolo_end2end"; }

bool is_rotated(const Metadata& m) { return m.decoded_type == "yolo_obb" || m.box_format == "xywhr"; }

// The raw output -> boxes above conf, their scores, classes and extras, before NMS.
Candidates yolo_candidates(const Metadata& m, const std::vector<Tensor>& outputs, float conf, const Transform& t) {
    const Tensor& out = output(outputs, 0, "the detections");
    const bool rotated = is_rotated(m);
    Candidates c;
    std::string layout;
    if (is_rows(m)) {  // (1, rows, 6 + extras): box, score, class, extras
        const int64_t rows = dim(out, 1, m.postprocessing), cols = dim(out, 2, m.postprocessing);
        for (int64_t r = 0; r < rows; ++r) {
            const float* row = out.data.data() + r * cols;
            if (!(row[4] > conf)) continue;
            c.boxes.emplace_back(row, row + 4);
            c.scores.push_back(row[4]);
            c.classes.push_back(static_cast<int>(row[5]));  // truncated, as numpy's astype(int64)
            c.extras.emplace_back(row + 6, row + cols);
        }
        layout = m.box_format;
    } else {  // (1, 4 + classes + extras, anchors): cx, cy, w, h in input pixels
        const int64_t channels = dim(out, 1, m.postprocessing), anchors = dim(out, 2, m.postprocessing);
        const int nc = static_cast<int>(m.class_names.size());
        if (channels < 4 + nc) {
            throw std::runtime_error(m.postprocessing + ": the output has " + std::to_string(channels) +
                                     " channels, fewer than 4 + " + std::to_string(nc) + " classes");
        }
        const float* data = out.data.data();
        for (int64_t a = 0; a < anchors; ++a) {
            int best_class = 0;
            float best = data[4 * anchors + a];
            for (int k = 1; k < nc; ++k) {
                const float score = data[(4 + k) * anchors + a];
                if (score > best) {
                    best = score;
                    best_class = k;
                }
            }
            if (!(best > conf)) continue;
            c.boxes.push_back({data[a], data[anchors + a], data[2 * anchors + a], data[3 * anchors + a]});
            c.scores.push_back(best);
            c.classes.push_back(best_class);
            std::vector<float> extra;
            for (int64_t ch = 4 + nc; ch < channels; ++ch) extra.push_back(data[ch * anchors + a]);
            c.extras.push_back(std::move(extra));
        }
        layout = rotated ? "xywhr" : "xywh";
    }
    for (size_t i = 0; i < c.boxes.size(); ++i) {
        std::vector<float>& box = c.boxes[i];
        if (m.normalized) {  // fractions of the input tensor's size
            box[0] *= static_cast<float>(t.width);
            box[1] *= static_cast<float>(t.height);
            box[2] *= static_cast<float>(t.width);
            box[3] *= static_cast<float>(t.height);
        }
        if (layout == "xywhr") {  // the angle is the last extra
            if (c.extras[i].empty()) throw std::runtime_error(m.postprocessing + ": a rotated box without its angle");
            box.push_back(c.extras[i].back());
            c.extras[i].pop_back();
        } else if (layout == "xywh") {
            const float hw = box[2] / 2, hh = box[3] / 2;
            box = {box[0] - hw, box[1] - hh, box[0] + hw, box[1] + hh};
        } else if (layout != "xyxy") {
            throw std::runtime_error("unknown box_format in metadata.json: '" + layout + "'");
        }
        if (rotated && box.size() != 5) {
            throw std::runtime_error(m.postprocessing + ": rotated boxes (decoded_type yolo_obb) need box_format "
                                     "'xywhr' in metadata.json, not '" + layout + "'");
        }
    }
    return c;
}

// Indices of the detections kept, best first.
std::vector<int> yolo_select(const Metadata& m, const Candidates& c, double iou) {
    const int max_det = std::max(m.max_detections, 0);
    if (is_rows(m)) {  // already final and ranked: keep the graph's order
        std::vector<int> keep(std::min(static_cast<int>(c.scores.size()), max_det));
        std::iota(keep.begin(), keep.end(), 0);
        return keep;
    }
    std::vector<int> order = ranked(c.scores);
    if (order.size() > static_cast<size_t>(MAX_NMS)) order.resize(MAX_NMS);
    std::vector<float> scores;
    for (int i : order) scores.push_back(c.scores[i]);
    std::vector<int> keep;
    const double step = m.class_agnostic ? 0.0 : CLASS_OFFSET;
    if (is_rotated(m)) {
        std::vector<Rbox> boxes;
        for (int i : order) {
            const std::vector<float>& b = c.boxes[i];
            const double offset = c.classes[i] * step;
            boxes.emplace_back(b[0] + offset, b[1] + offset, b[2], b[3], b[4]);
        }
        keep = rotated_nms(boxes, iou);
    } else {
        std::vector<cv::Vec4d> boxes;
        for (int i : order) {
            const std::vector<float>& b = c.boxes[i];
            const double offset = c.classes[i] * step;
            boxes.emplace_back(b[0] + offset, b[1] + offset, b[2] + offset, b[3] + offset);
        }
        keep = nms(boxes, scores, iou);
    }
    if (keep.size() > static_cast<size_t>(max_det)) keep.resize(max_det);
    for (int& k : keep) k = order[k];
    return keep;
}

// A rotated box (input pixels) in the original image: rbox, corners and their bounds (not clipped).
void set_rotated(Prediction& p, const std::vector<float>& box, const Transform& t) {
    const Rbox mapped((box[0] - static_cast<double>(t.pad_x)) / t.gain_x,
                      (box[1] - static_cast<double>(t.pad_y)) / t.gain_y,
                      box[2] / static_cast<double>(t.gain_x), box[3] / static_cast<double>(t.gain_y), box[4]);
    const std::vector<cv::Point2d> corners = xywhr_corners(mapped);
    double x1 = corners[0].x, y1 = corners[0].y, x2 = x1, y2 = y1;
    for (const cv::Point2d& corner : corners) {
        x1 = std::min(x1, corner.x);
        y1 = std::min(y1, corner.y);
        x2 = std::max(x2, corner.x);
        y2 = std::max(y2, corner.y);
        p.polygon.push_back(static_cast<float>(corner.x));
        p.polygon.push_back(static_cast<float>(corner.y));
    }
    p.bbox = {static_cast<float>(x1), static_cast<float>(y1), static_cast<float>(x2), static_cast<float>(y2)};
    for (int k = 0; k < 5; ++k) p.rbox.push_back(static_cast<float>(mapped[k]));
}

std::vector<Prediction> yolo(const Metadata& m, const std::vector<Tensor>& outputs, const Transform& t,
                             int image_h, int image_w, float conf, double iou, bool masks) {
    const Candidates c = yolo_candidates(m, outputs, conf, t);
    const std::vector<int> keep = yolo_select(m, c, iou);
    const bool rotated = is_rotated(m);
    const bool segments = m.mask_prototypes >= 0;
    std::vector<Prediction> result;
    for (int k : keep) {
        const std::vector<float>& box = c.boxes[k];
        Prediction p;
        p.class_id = c.classes[k];
        p.class_name = class_name(m, p.class_id);
        p.confidence = c.scores[k];
        if (rotated) {
            set_rotated(p, box, t);
        } else {
            p.bbox = {to_x(box[0], t, image_w), to_y(box[1], t, image_h), to_x(box[2], t, image_w),
                      to_y(box[3], t, image_h)};
            if (p.bbox[2] <= p.bbox[0] || p.bbox[3] <= p.bbox[1]) continue;  // wholly in the letterbox padding
        }
        if (m.keypoint_shape.size() == 2) {
            const int count = m.keypoint_shape[0], dims = m.keypoint_shape[1];
            const std::vector<float>& extra = c.extras[k];
            if (static_cast<int>(extra.size()) < count * dims) {
                throw std::runtime_error("a detection has " + std::to_string(extra.size()) + " keypoint values, "
                                         "keypoint_shape in metadata.json says " + std::to_string(count * dims));
            }
            p.keypoint_dims = dims;
            for (int n = 0; n < count; ++n) {
                p.keypoints.push_back(to_x(extra[n * dims], t, image_w));
                p.keypoints.push_back(to_y(extra[n * dims + 1], t, image_h));
                for (int d = 2; d < dims; ++d) p.keypoints.push_back(extra[n * dims + d]);
            }
        }
        if (segments && masks) {
            p.mask = detail::instance_mask(c.extras[k], output(outputs, 1, "the mask prototypes"), box, t, image_h, image_w);
        }
        result.push_back(std::move(p));
    }
    return result;
}

// --- set prediction (DETR-style) ----------------------------------------------------

std::vector<Prediction> set_prediction(const Metadata& m, const std::vector<Tensor>& outputs, const Transform& t,
                                       int image_h, int image_w, float conf) {
    const Tensor& scores_out = output(outputs, m.scores_index, "scores_index");
    const int64_t queries = dim(scores_out, 1, "set_prediction scores");
    const int64_t width = dim(scores_out, 2, "set_prediction scores");
    const bool boxes_first = m.boxes_index < 0;  // boxes, then the class scores, on one axis
    const int64_t classes = boxes_first ? width - 4 : width;
    const float* boxes = boxes_first ? scores_out.data.data() : output(outputs, m.boxes_index, "boxes_index").data.data();
    const int64_t box_stride = boxes_first ? width : 4;
    auto logit = [&](int64_t q, int64_t k) { return scores_out.data[q * width + (boxes_first ? 4 : 0) + k]; };
    // every scored (query, class) pair
    std::vector<int64_t> query, label;
    std::vector<float> score;
    if (m.scores == "softmax") {  // the last class means "no object"
        for (int64_t q = 0; q < queries; ++q) {
            float top = logit(q, 0);
            for (int64_t k = 1; k < classes; ++k) top = std::max(top, logit(q, k));
            std::vector<float> e(classes);
            float sum = 0.0f;
            for (int64_t k = 0; k < classes; ++k) sum += (e[k] = std::exp(logit(q, k) - top));
            int64_t best = 0;
            for (int64_t k = 1; k + 1 < classes; ++k) {
                if (e[k] / sum > e[best] / sum) best = k;
            }
            query.push_back(q);
            label.push_back(best);
            score.push_back(e[best] / sum);
        }
    } else if (m.scores == "sigmoid") {  // the top_k (query, class) pairs
        std::vector<float> flat(queries * classes);
        for (int64_t q = 0; q < queries; ++q) {
            for (int64_t k = 0; k < classes; ++k) flat[q * classes + k] = 1.0f / (1.0f + std::exp(-logit(q, k)));
        }
        std::vector<int> top = ranked(flat);
        const size_t k = m.top_k > 0 ? std::min(static_cast<size_t>(m.top_k), top.size()) : top.size();
        for (size_t n = 0; n < k; ++n) {
            query.push_back(top[n] / classes);
            label.push_back(top[n] % classes);
            score.push_back(flat[top[n]]);
        }
    } else if (m.scores == "max") {  // already probabilities
        for (int64_t q = 0; q < queries; ++q) {
            int64_t best = 0;
            for (int64_t k = 1; k < classes; ++k) {
                if (logit(q, k) > logit(q, best)) best = k;
            }
            query.push_back(q);
            label.push_back(best);
            score.push_back(logit(q, best));
        }
    } else {
        throw std::runtime_error("unknown set_prediction scores in metadata.json: '" + m.scores + "'");
    }
    std::vector<int> kept;
    std::vector<float> kept_scores;
    for (size_t i = 0; i < score.size(); ++i) {
        if (score[i] > conf) {
            kept.push_back(static_cast<int>(i));
            kept_scores.push_back(score[i]);
        }
    }
    std::vector<int> order = ranked(kept_scores);
    if (order.size() > static_cast<size_t>(std::max(m.max_detections, 0))) order.resize(std::max(m.max_detections, 0));
    std::vector<Prediction> result;
    for (int n : order) {
        const int i = kept[n];
        const float* b = boxes + query[i] * box_stride;
        const double cx = b[0], cy = b[1], w = b[2], h = b[3];
        Prediction p;
        p.class_id = static_cast<int>(label[i]);
        p.class_name = class_name(m, p.class_id);
        p.confidence = score[i];
        p.bbox = {to_x(static_cast<float>((cx - 0.5 * w) * t.width), t, image_w),
                  to_y(static_cast<float>((cy - 0.5 * h) * t.height), t, image_h),
                  to_x(static_cast<float>((cx + 0.5 * w) * t.width), t, image_w),
                  to_y(static_cast<float>((cy + 0.5 * h) * t.height), t, image_h)};
        result.push_back(std::move(p));
    }
    return result;
}

using Decoder = std::function<std::vector<Prediction>(const Metadata&, const std::vector<Tensor>&, const Transform&,
                                                      int, int, float, double, bool)>;

const std::map<std::string, Decoder>& decoders() {
    static const std::map<std::string, Decoder> table = [] {
        const Decoder classifier = [](const Metadata& m, const std::vector<Tensor>& o, const Transform&, int, int,
                                      float, double, bool) { return classify(m, o); };
        const Decoder detector = yolo;
        const Decoder sets = [](const Metadata& m, const std::vector<Tensor>& o, const Transform& t, int h, int w,
                                float conf, double, bool) { return set_prediction(m, o, t, h, w, conf); };
        const Decoder segmenter = [](const Metadata& m, const std::vector<Tensor>& o, const Transform& t, int h,
                                     int w, float, double, bool masks) { return detail::semantic(m, o, t, h, w, masks); };
        return std::map<std::string, Decoder>{
            {"logits", classifier}, {"probabilities", classifier},
            {"yolo_detect", detector}, {"yolo_segment", detector}, {"yolo_pose", detector}, {"yolo_obb", detector},
            {"yolo_nms", detector}, {"yolo_end2end", detector},
            {"set_prediction", sets},
            {"semantic_logits", segmenter},
        };
    }();
    return table;
}

}  // namespace

bool known_postprocessing(const std::string& type) { return decoders().count(type) > 0; }

std::vector<Prediction> decode(const Metadata& metadata, const std::vector<Tensor>& outputs,
                               const Transform& transform, int image_h, int image_w, float conf, double iou,
                               bool masks) {
    const auto decoder = decoders().find(metadata.postprocessing);
    if (decoder == decoders().end()) {
        throw std::runtime_error("unknown postprocessing type in metadata.json: '" + metadata.postprocessing + "'");
    }
    if (outputs.empty()) throw std::runtime_error("the model gave no outputs");
    conf = conf < 0 ? metadata.confidence_threshold : conf;
    iou = iou < 0 ? metadata.iou_threshold : iou;
    return decoder->second(metadata, outputs, transform, image_h, image_w, conf, iou, masks);
}

std::vector<int> nms(const std::vector<cv::Vec4d>& boxes, const std::vector<float>& scores, double iou_threshold) {
    const std::vector<int> order = ranked(scores);
    std::vector<double> areas(boxes.size());
    for (size_t i = 0; i < boxes.size(); ++i) {
        areas[i] = std::max(boxes[i][2] - boxes[i][0], 0.0) * std::max(boxes[i][3] - boxes[i][1], 0.0);
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
            const double iw = std::max(std::min(boxes[i][2], boxes[j][2]) - std::max(boxes[i][0], boxes[j][0]), 0.0);
            const double ih = std::max(std::min(boxes[i][3], boxes[j][3]) - std::max(boxes[i][1], boxes[j][1]), 0.0);
            const double inter = iw * ih;
            if (!(inter / (areas[i] + areas[j] - inter + 1e-9) <= iou_threshold)) removed[j] = true;
        }
    }
    return keep;
}

double probiou(const Rbox& a, const Rbox& b) {
    constexpr double eps = 1e-7;
    // each box is a Gaussian with covariance R diag(w^2 / 12, h^2 / 12) R^T
    auto covariance = [](const Rbox& r, double& ca, double& cb, double& cc) {
        const double vw = r[2] * r[2] / 12, vh = r[3] * r[3] / 12;
        const double cos = std::cos(r[4]), sin = std::sin(r[4]);
        ca = vw * (cos * cos) + vh * (sin * sin);
        cb = vw * (sin * sin) + vh * (cos * cos);
        cc = (vw - vh) * cos * sin;
    };
    double a1, b1, c1, a2, b2, c2;
    covariance(a, a1, b1, c1);
    covariance(b, a2, b2, c2);
    const double dx = a[0] - b[0], dy = a[1] - b[1];
    const double sa = a1 + a2, sb = b1 + b2, sc = c1 + c2;
    const double det = sa * sb - sc * sc;
    const double mahalanobis = (sa * (dy * dy) + sb * (dx * dx) - 2 * sc * dx * dy) / (det + eps) / 4;
    const double spread = std::sqrt(std::max(a1 * b1 - c1 * c1, 0.0) * std::max(a2 * b2 - c2 * c2, 0.0));
    const double bhattacharyya = std::clamp(mahalanobis + std::log(det / (4 * spread + eps) + eps) / 2, eps, 100.0);
    return 1.0 - std::sqrt(1.0 - std::exp(-bhattacharyya) + eps);
}

std::vector<int> rotated_nms(const std::vector<Rbox>& ranked_boxes, double iou_threshold) {
    std::vector<int> keep;
    for (size_t j = 0; j < ranked_boxes.size(); ++j) {
        bool suppressed = false;
        for (size_t i = 0; i < j && !suppressed; ++i) suppressed = probiou(ranked_boxes[i], ranked_boxes[j]) > iou_threshold;
        if (!suppressed) keep.push_back(static_cast<int>(j));
    }
    return keep;
}

std::vector<cv::Point2d> xywhr_corners(const Rbox& r) {
    const double cos = std::cos(r[4]), sin = std::sin(r[4]);
    const cv::Point2d along(r[2] / 2 * cos, r[2] / 2 * sin), across(-r[3] / 2 * sin, r[3] / 2 * cos);
    const cv::Point2d center(r[0], r[1]);
    const int signs[4][2] = {{1, 1}, {1, -1}, {-1, -1}, {-1, 1}};
    std::vector<cv::Point2d> corners;
    for (const auto& s : signs) corners.push_back(center + s[0] * along + s[1] * across);
    return corners;
}

}  // namespace slipway

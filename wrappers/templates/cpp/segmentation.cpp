// Slipway post-processing for C++, the pixel-wise part: instance masks of YOLO segmentation
// models and semantic segmentation (per-pixel class logits), exactly as
// runtimes/python/model_wrapper.py computes them (``_Yolo._mask``, ``_Semantic``).
#include "model_wrapper.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace slipway {

namespace {

using detail::class_name;
using detail::dim;
using detail::output;

struct Taps {
    std::vector<int> first, second;
    std::vector<float> weight;  // of the second
};

// Bilinear taps as torch's interpolate (align_corners false): output pixel i reads source
// coordinate (i + 0.5) * scale + offset - 0.5, clamped to the input.
Taps linear_taps(int size, double scale, double offset, int length) {
    Taps taps;
    for (int i = 0; i < size; ++i) {
        const double src = std::clamp((i + 0.5) * scale + offset - 0.5, 0.0, static_cast<double>(length - 1));
        const int first = static_cast<int>(std::floor(src));
        taps.first.push_back(first);
        taps.second.push_back(std::min(first + 1, length - 1));
        taps.weight.push_back(static_cast<float>(src - first));
    }
    return taps;
}

// The class map and each pixel's winning probability, the logits resampled onto the image
// through the inverse of the preprocessing geometry ("inverse") or over the whole image ("stretch").
void semantic_scan(const Metadata& m, const std::vector<Tensor>& outputs, const Transform& t, int image_h,
                   int image_w, cv::Mat& labels, cv::Mat& best) {
    const Tensor& out = output(outputs, 0, "the class logits");
    const int classes = static_cast<int>(dim(out, 1, "semantic_logits"));
    const int h = static_cast<int>(dim(out, 2, "semantic_logits"));
    const int w = static_cast<int>(dim(out, 3, "semantic_logits"));
    double sy, oy, sx, ox;
    if (m.mapping == "stretch") {
        sy = static_cast<double>(h) / image_h, oy = 0.0, sx = static_cast<double>(w) / image_w, ox = 0.0;
    } else if (m.mapping == "inverse") {  // original x -> tensor x * gain + pad -> logits * w / tensor width
        const double ky = static_cast<double>(h) / t.height, kx = static_cast<double>(w) / t.width;
        sy = t.gain_y * ky, oy = t.pad_y * ky, sx = t.gain_x * kx, ox = t.pad_x * kx;
    } else {
        throw std::runtime_error("unknown semantic_logits mapping in metadata.json: '" + m.mapping + "'");
    }
    const Taps xs = linear_taps(image_w, sx, ox, w), ys = linear_taps(image_h, sy, oy, h);
    // the columns first: (classes, h, image_w)
    std::vector<float> cols(static_cast<size_t>(classes) * h * image_w);
    for (int c = 0; c < classes; ++c) {
        for (int y = 0; y < h; ++y) {
            const float* src = out.data.data() + (static_cast<size_t>(c) * h + y) * w;
            float* dst = cols.data() + (static_cast<size_t>(c) * h + y) * image_w;
            for (int x = 0; x < image_w; ++x) {
                dst[x] = src[xs.first[x]] * (1.0f - xs.weight[x]) + src[xs.second[x]] * xs.weight[x];
            }
        }
    }
    labels.create(image_h, image_w, CV_32S);
    best.create(image_h, image_w, CV_32F);
    std::vector<float> value(classes);
    for (int y = 0; y < image_h; ++y) {
        const float a = ys.weight[y], b = 1.0f - a;
        int* label_row = labels.ptr<int>(y);
        float* best_row = best.ptr<float>(y);
        for (int x = 0; x < image_w; ++x) {
            int top_class = 0;
            for (int c = 0; c < classes; ++c) {
                const float* plane = cols.data() + static_cast<size_t>(c) * h * image_w;
                value[c] = plane[static_cast<size_t>(ys.first[y]) * image_w + x] * b +
                           plane[static_cast<size_t>(ys.second[y]) * image_w + x] * a;
                if (value[c] > value[top_class]) top_class = c;
            }
            float sum = 0.0f;
            for (int c = 0; c < classes; ++c) sum += std::exp(value[c] - value[top_class]);
            label_row[x] = top_class;
            best_row[x] = 1.0f / sum;
        }
    }
}

}  // namespace

namespace detail {

std::vector<Prediction> semantic(const Metadata& m, const std::vector<Tensor>& outputs, const Transform& t,
                                 int image_h, int image_w, bool masks) {
    cv::Mat labels, best;
    semantic_scan(m, outputs, t, image_h, image_w, labels, best);
    struct Segment {
        int64_t pixels = 0;
        double probability = 0.0;
        int x1 = 0, y1 = 0, x2 = -1, y2 = -1;
    };
    std::map<int, Segment> found;  // by class id, ascending
    for (int y = 0; y < image_h; ++y) {
        const int* label_row = labels.ptr<int>(y);
        const float* best_row = best.ptr<float>(y);
        for (int x = 0; x < image_w; ++x) {
            Segment& s = found[label_row[x]];
            if (s.pixels++ == 0) {
                s.x1 = s.x2 = x;
                s.y1 = s.y2 = y;
            }
            s.probability += best_row[x];
            s.x1 = std::min(s.x1, x), s.x2 = std::max(s.x2, x);
            s.y1 = std::min(s.y1, y), s.y2 = std::max(s.y2, y);
        }
    }
    std::vector<Prediction> result;
    for (const auto& [id, s] : found) {
        Prediction p;
        p.class_id = id;
        p.class_name = class_name(m, id);
        p.confidence = static_cast<float>(s.probability / static_cast<double>(s.pixels));
        p.area = static_cast<float>(static_cast<double>(s.pixels) / (static_cast<double>(image_h) * image_w));
        p.bbox = {static_cast<float>(s.x1), static_cast<float>(s.y1), static_cast<float>(s.x2 + 1),
                  static_cast<float>(s.y2 + 1)};
        if (masks) p.mask = (labels == id) / 255;
        result.push_back(std::move(p));
    }
    std::stable_sort(result.begin(), result.end(), [](const Prediction& a, const Prediction& b) { return a.area > b.area; });
    return result;
}

// One instance mask, as Ultralytics makes it: prototypes x coefficients, upsampled to the input
// size (bilinear), positive inside the box (input pixels), then the image's region of the input
// resized to the original size (bilinear, > 0.5).
cv::Mat instance_mask(const std::vector<float>& coef, const Tensor& protos, const std::vector<float>& box,
                      const Transform& t, int image_h, int image_w) {
    const int nm = static_cast<int>(dim(protos, 1, "the mask prototypes"));
    const int mh = static_cast<int>(dim(protos, 2, "the mask prototypes"));
    const int mw = static_cast<int>(dim(protos, 3, "the mask prototypes"));
    if (static_cast<int>(coef.size()) < nm) {
        throw std::runtime_error("a detection has " + std::to_string(coef.size()) + " mask coefficients, the "
                                 "prototypes " + std::to_string(nm));
    }
    const cv::Mat planes(nm, mh * mw, CV_32F, const_cast<float*>(protos.data.data()));
    const cv::Mat weights(1, nm, CV_32F, const_cast<float*>(coef.data()));
    const cv::Mat product = weights * planes;
    const cv::Mat logits = product.reshape(1, mh);
    cv::Mat upsampled;
    cv::resize(logits, upsampled, cv::Size(t.width, t.height), 0, 0, cv::INTER_LINEAR);
    cv::Mat inside(t.height, t.width, CV_32F, cv::Scalar(0.0f));
    for (int r = 0; r < t.height; ++r) {
        if (!(r >= static_cast<double>(box[1]) && r < static_cast<double>(box[3]))) continue;
        const float* src = upsampled.ptr<float>(r);
        float* dst = inside.ptr<float>(r);
        for (int x = 0; x < t.width; ++x) {
            const bool in_box = x >= static_cast<double>(box[0]) && x < static_cast<double>(box[2]);
            dst[x] = in_box && src[x] > 0.0f ? 1.0f : 0.0f;
        }
    }
    const int top = std::max(static_cast<int>(std::nearbyint(t.pad_y)), 0);
    const int left = std::max(static_cast<int>(std::nearbyint(t.pad_x)), 0);
    const int height = std::max(static_cast<int>(std::nearbyint(image_h * static_cast<double>(t.gain_y))), 1);
    const int width = std::max(static_cast<int>(std::nearbyint(image_w * static_cast<double>(t.gain_x))), 1);
    const cv::Rect region = cv::Rect(left, top, width, height) & cv::Rect(0, 0, t.width, t.height);
    if (region.empty()) return cv::Mat::zeros(image_h, image_w, CV_8U);
    cv::Mat resized;
    cv::resize(inside(region), resized, cv::Size(image_w, image_h), 0, 0, cv::INTER_LINEAR);
    cv::Mat mask = resized > 0.5f;  // 0 / 255
    return mask / 255;
}

}  // namespace detail

cv::Mat class_map(const Metadata& metadata, const std::vector<Tensor>& outputs, const Transform& transform,
                  int image_h, int image_w) {
    if (metadata.postprocessing != "semantic_logits") {
        throw std::runtime_error("a class map needs semantic_logits, not '" + metadata.postprocessing + "'");
    }
    cv::Mat labels, best;
    semantic_scan(metadata, outputs, transform, image_h, image_w, labels, best);
    return labels;
}

}  // namespace slipway

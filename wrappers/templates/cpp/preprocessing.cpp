// Slipway model wrapper for C++: pre-processing. metadata.json's preprocessing.steps run
// in order on the RGB image (resize, center_crop, pad), then every pixel becomes
// (pixel * scale - mean) / std. "antialias": true resamples exactly as PIL's Image.resize
// does (timm, Hugging Face, torchvision on PIL images); false uses cv::resize
// (Ultralytics' letterbox). Mirrors runtimes/python/model_wrapper.py step for step.
#include "model_wrapper.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace slipway {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed-point coefficients for 8-bit images
constexpr double kPi = 3.14159265358979323846;

// Python's round(): halves go to the even neighbour.
int py_round(double value) { return static_cast<int>(std::nearbyint(value)); }

// PIL's filters (Resample.c), evaluated in double as PIL does.
double triangle(double x) {
    x = std::fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

double cubic(double x) {  // Keys' cubic, a = -0.5
    const double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

double sinc(double x) {
    if (x == 0.0) return 1.0;
    x = x * kPi;
    return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

double box(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double hamming(double x) {
    x = std::fabs(x);
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x = x * kPi;
    return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // PIL's constants are C floats
}

struct Filter {
    double (*kernel)(double);
    double support;
};

Filter pil_filter(const std::string& name) {
    static const std::map<std::string, Filter> filters = {
        {"bilinear", {triangle, 1.0}}, {"bicubic", {cubic, 2.0}}, {"lanczos", {lanczos, 3.0}},
        {"box", {box, 0.5}},           {"hamming", {hamming, 1.0}},
    };
    auto found = filters.find(name);
    if (found == filters.end()) throw std::runtime_error("unknown interpolation in metadata.json: " + name);
    return found->second;
}

// One axis of PIL's resampling: for every output pixel its first source index, its
// number of taps and their fixed-point weights (precompute_coeffs + normalize_coeffs_8bpc).
struct Taps {
    int ksize = 0;
    std::vector<int> first, count;
    std::vector<int32_t> weights;  // out_size * ksize
};

Taps pil_taps(int in_size, int out_size, const Filter& filter) {
    const double scale = static_cast<double>(in_size) / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = filter.support * filterscale;
    Taps taps;
    taps.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    taps.first.resize(out_size);
    taps.count.resize(out_size);
    taps.weights.assign(static_cast<size_t>(out_size) * taps.ksize, 0);
    std::vector<double> k(taps.ksize);
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            k[x] = filter.kernel((x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        for (int x = 0; x < xmax; ++x) {
            if (ww != 0.0) k[x] /= ww;
            const double fixed = k[x] * (1 << kPrecisionBits);
            taps.weights[static_cast<size_t>(xx) * taps.ksize + x] =
                static_cast<int32_t>(k[x] < 0 ? -0.5 + fixed : 0.5 + fixed);
        }
        taps.first[xx] = xmin;
        taps.count[xx] = xmax;
    }
    return taps;
}

uint8_t clip8(int32_t value) {
    const int32_t shifted = value >> kPrecisionBits;  // arithmetic shift: floor, as PIL's lookup table
    return static_cast<uint8_t>(std::min(std::max(shifted, 0), 255));
}

// Horizontal pass over rows [row0, row0 + rows) of a CV_8UC3 image.
cv::Mat pass_horizontal(const cv::Mat& in, int row0, int rows, const Taps& t) {
    const int out_w = static_cast<int>(t.first.size());
    cv::Mat out(rows, out_w, CV_8UC3);
    for (int y = 0; y < rows; ++y) {
        const cv::Vec3b* src = in.ptr<cv::Vec3b>(row0 + y);
        cv::Vec3b* dst = out.ptr<cv::Vec3b>(y);
        for (int xx = 0; xx < out_w; ++xx) {
            const int32_t* k = &t.weights[static_cast<size_t>(xx) * t.ksize];
            int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < t.count[xx]; ++x) {
                const cv::Vec3b& p = src[t.first[xx] + x];
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            dst[xx] = cv::Vec3b(clip8(s0), clip8(s1), clip8(s2));
        }
    }
    return out;
}

// Vertical pass over columns [col0, col0 + cols); row indices shifted by -row0.
cv::Mat pass_vertical(const cv::Mat& in, int row0, int col0, int cols, const Taps& t) {
    const int out_h = static_cast<int>(t.first.size());
    cv::Mat out(out_h, cols, CV_8UC3);
    for (int yy = 0; yy < out_h; ++yy) {
        const int32_t* k = &t.weights[static_cast<size_t>(yy) * t.ksize];
        cv::Vec3b* dst = out.ptr<cv::Vec3b>(yy);
        for (int x = 0; x < cols; ++x) {
            int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
            for (int y = 0; y < t.count[yy]; ++y) {
                const cv::Vec3b& p = in.ptr<cv::Vec3b>(t.first[yy] - row0 + y)[col0 + x];
                s0 += p[0] * k[y];
                s1 += p[1] * k[y];
                s2 += p[2] * k[y];
            }
            dst[x] = cv::Vec3b(clip8(s0), clip8(s1), clip8(s2));
        }
    }
    return out;
}

// PIL's nearest neighbour: source = floor((i + 0.5) * in / out), accumulated as PIL does.
cv::Mat pil_nearest(const cv::Mat& image, int width, int height) {
    auto positions = [](int in_size, int out_size) {
        std::vector<int> index(out_size);
        const double step = static_cast<double>(in_size) / out_size;
        double position = step * 0.5;
        for (int i = 0; i < out_size; ++i, position += step) {
            index[i] = std::min(static_cast<int>(position), in_size - 1);
        }
        return index;
    };
    const std::vector<int> rows = positions(image.rows, height), cols = positions(image.cols, width);
    cv::Mat out(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y) {
        const cv::Vec3b* src = image.ptr<cv::Vec3b>(rows[y]);
        cv::Vec3b* dst = out.ptr<cv::Vec3b>(y);
        for (int x = 0; x < width; ++x) dst[x] = src[cols[x]];
    }
    return out;
}

int cv_interpolation(const std::string& name) {
    static const std::map<std::string, int> flags = {
        {"nearest", cv::INTER_NEAREST}, {"bilinear", cv::INTER_LINEAR}, {"bicubic", cv::INTER_CUBIC},
        {"lanczos", cv::INTER_LANCZOS4}, {"area", cv::INTER_AREA},
    };
    auto found = flags.find(name);
    if (found == flags.end()) {
        throw std::runtime_error("interpolation " + name + " needs antialias true in metadata.json");
    }
    return found->second;
}

// DETR's get_size_with_aspect_ratio; YOLOS's variant also floors to a multiple of 16.
cv::Size detr_size(int h, int w, int size, int max_size, bool yolos) {
    double raw = -1.0;
    if (max_size > 0) {
        const double shorter = std::min(h, w), longer = std::max(h, w);
        if (longer / shorter * size > max_size) {
            raw = max_size * shorter / longer;
            size = py_round(raw);
        }
    }
    const double base = raw >= 0.0 ? raw : size;
    const bool keep = (h <= w && h == size) || (w <= h && w == size);
    int oh, ow;
    if (keep && !(yolos && w < h)) {
        oh = h;
        ow = w;
    } else if (w < h) {
        ow = size;
        oh = static_cast<int>(base * h / w);
    } else {
        oh = size;
        ow = static_cast<int>(base * w / h);
    }
    if (yolos) {
        oh -= oh % 16;
        ow -= ow % 16;
    }
    return {ow, oh};
}

// Both sides scaled by target / ref: "timm" as round(side / ratio), "round" as round(side * gain).
cv::Size keep_ratio(int h, int w, int ref, int target, const std::string& rule) {
    if (rule == "timm") {
        const double ratio = static_cast<double>(ref) / target;
        return {std::max(py_round(w / ratio), 1), std::max(py_round(h / ratio), 1)};
    }
    const double gain = static_cast<double>(target) / ref;
    return {std::max(py_round(w * gain), 1), std::max(py_round(h * gain), 1)};
}

void add_border(cv::Mat& image, int top, int bottom, int left, int right, const int fill[3]) {
    if (top == 0 && bottom == 0 && left == 0 && right == 0) return;
    cv::Mat out;
    cv::copyMakeBorder(image, out, top, bottom, left, right, cv::BORDER_CONSTANT,
                       cv::Scalar(fill[0], fill[1], fill[2]));
    image = out;
}

void compose(Transform& t, double gx, double gy, double px, double py) {
    t.gain_x = static_cast<float>(t.gain_x * gx);
    t.gain_y = static_cast<float>(t.gain_y * gy);
    t.pad_x = static_cast<float>(t.pad_x * gx + px);
    t.pad_y = static_cast<float>(t.pad_y * gy + py);
}

}  // namespace

cv::Mat pil_resize(const cv::Mat& image, int width, int height, const std::string& interpolation) {
    const int h = image.rows, w = image.cols;
    if (h == height && w == width) return image;
    if (interpolation == "nearest") return pil_nearest(image, width, height);
    const Filter filter = pil_filter(interpolation);
    if (height == h) return pass_horizontal(image, 0, h, pil_taps(w, width, filter));
    const Taps rows = pil_taps(h, height, filter);
    if (width == w) return pass_vertical(image, 0, 0, w, rows);
    const Taps cols = pil_taps(w, width, filter);
    const int top = rows.first.front(), bottom = rows.first.back() + rows.count.back();
    const int left = cols.first.front(), right = cols.first.back() + cols.count.back();
    if (height < h && h - height > 2 * (w - width)) {  // Pillow 13: the vertical pass first
        const cv::Mat narrow = pass_vertical(image, 0, left, right - left, rows);
        Taps shifted = cols;
        for (int& first : shifted.first) first -= left;
        return pass_horizontal(narrow, 0, height, shifted);
    }
    const cv::Mat wide = pass_horizontal(image, top, bottom - top, cols);
    return pass_vertical(wide, top, 0, width, rows);
}

cv::Size resized_size(int h, int w, const Step& step) {
    if (step.mode == "exact") return {step.width, step.height};
    const int shorter = std::min(h, w), longer = std::max(h, w);
    if (step.mode == "fit") {
        const double gain = std::min(static_cast<double>(step.height) / h, static_cast<double>(step.width) / w);
        if (step.rule == "floor") {  // Hugging Face get_image_size_for_max_height_width
            return {std::max(static_cast<int>(w * gain), 1), std::max(static_cast<int>(h * gain), 1)};
        }
        if (step.rule == "timm") {
            const bool by_height = static_cast<double>(h) / step.height >= static_cast<double>(w) / step.width;
            return keep_ratio(h, w, by_height ? h : w, by_height ? step.height : step.width, "timm");
        }
        return {std::max(py_round(w * gain), 1), std::max(py_round(h * gain), 1)};  // Ultralytics
    }
    if (step.rule == "detr" || step.rule == "yolos") {
        return detr_size(h, w, step.edge, step.max_edge, step.rule == "yolos");
    }
    if (step.mode == "longest_edge") {
        if (step.rule == "floor") {  // torchvision: int(edge * short / long)
            const int new_short = std::max(static_cast<int>(static_cast<double>(step.edge) * shorter / longer), 1);
            return w <= h ? cv::Size(new_short, step.edge) : cv::Size(step.edge, new_short);
        }
        return keep_ratio(h, w, longer, step.edge, step.rule);
    }
    if (step.rule == "floor") {  // torchvision / transformers: new_long = int(edge * long / short)
        int new_short = step.edge;
        int new_long = static_cast<int>(static_cast<double>(step.edge) * longer / shorter);
        if (step.max_edge > 0 && new_long > step.max_edge) {
            new_short = static_cast<int>(static_cast<double>(step.max_edge) * new_short / new_long);
            new_long = step.max_edge;
        }
        return w <= h ? cv::Size(new_short, new_long) : cv::Size(new_long, new_short);
    }
    cv::Size size = keep_ratio(h, w, shorter, step.edge, step.rule);
    if (step.max_edge > 0 && std::max(size.width, size.height) > step.max_edge) {
        size = keep_ratio(h, w, longer, step.max_edge, step.rule);
    }
    return size;
}

cv::Mat apply_steps(const Metadata& m, const cv::Mat& rgb, Transform& t) {
    t = Transform{};
    cv::Mat image = rgb;
    for (const Step& step : m.steps) {
        const int h = image.rows, w = image.cols;
        if (step.op == "resize") {
            cv::Size size = resized_size(h, w, step);
            if (step.multiple_of > 0) {  // each side rounded up to a multiple (TextNet's size_divisor)
                size.width = (size.width + step.multiple_of - 1) / step.multiple_of * step.multiple_of;
                size.height = (size.height + step.multiple_of - 1) / step.multiple_of * step.multiple_of;
            }
            if (size.width != w || size.height != h) {
                if (step.antialias && step.interpolation != "area") {
                    image = pil_resize(image, size.width, size.height, step.interpolation);
                } else {
                    cv::Mat out;
                    cv::resize(image, out, size, 0, 0, cv_interpolation(step.interpolation));
                    image = out;
                }
            }
            compose(t, static_cast<double>(size.width) / w, static_cast<double>(size.height) / h, 0.0, 0.0);
        } else if (step.op == "center_crop") {
            // per axis: pad up to the crop (ceil before for "floor", floor otherwise), then the offset
            auto axis = [&](int size, int crop, int& before, int& after, int& offset) {
                before = after = 0;
                if (size < crop) {
                    before = step.rule == "floor" ? (crop - size + 1) / 2 : (crop - size) / 2;
                    after = crop - size - before;
                    size = crop;
                }
                offset = step.rule == "round" ? py_round((size - crop) / 2.0) : (size - crop) / 2;
            };
            int crop_h = step.height, crop_w = step.width;
            if (step.fraction_h > 0) {  // a share of the shorter side
                const double shorter = std::min(h, w);
                crop_h = static_cast<int>(step.fraction_h * shorter);
                crop_w = static_cast<int>(step.fraction_w * shorter);
            }
            int top, bottom, y, left, right, x;
            axis(h, crop_h, top, bottom, y);
            axis(w, crop_w, left, right, x);
            add_border(image, top, bottom, left, right, step.fill);
            image = image(cv::Rect(x, y, crop_w, crop_h)).clone();
            compose(t, 1.0, 1.0, left - x, top - y);
        } else if (step.op == "pad") {
            int th = step.height, tw = step.width;
            if (step.multiple_of > 0) {
                th = (h + step.multiple_of - 1) / step.multiple_of * step.multiple_of;
                tw = (w + step.multiple_of - 1) / step.multiple_of * step.multiple_of;
            }
            if (th < h || tw < w) throw std::runtime_error("metadata.json pads to a size smaller than the image");
            const bool center = step.position != "bottom_right";
            const int top = center ? py_round((th - h) / 2.0 - 0.1) : 0;  // Ultralytics' letterbox split
            const int left = center ? py_round((tw - w) / 2.0 - 0.1) : 0;
            add_border(image, top, th - h - top, left, tw - w - left, step.fill);
            compose(t, 1.0, 1.0, left, top);
        } else {
            throw std::runtime_error("unknown preprocessing step in metadata.json: " + step.op);
        }
    }
    return image;
}

InputTensor to_tensor(const Metadata& m, const cv::Mat& image) {
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

InputTensor preprocess(const Metadata& m, const cv::Mat& rgb, Transform& transform) {
    cv::Mat image = apply_steps(m, rgb, transform);
    if (m.bgr) cv::cvtColor(image, image, cv::COLOR_RGB2BGR);  // a model that takes OpenCV's order
    return to_tensor(m, image);
}

}  // namespace slipway

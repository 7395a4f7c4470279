// Example: ./slipway_example model.onnx metadata.json [--conf 0.25] [--iou 0.7] [--masks] image...
// prints one JSON line per image: {"image": ..., "predictions": [...]}, the predictions in
// the Python wrapper's shape (rbox and polygon for rotated boxes, keypoints, semantic
// segments with their area). With --masks, segmentation models also compute masks; a mask
// is printed as a summary, {"height", "width", "pixels"} (pixels: how many it covers).
//   --dump-tensor DIR  runs no model: writes each image's input tensor to DIR/<n>.bin
//                      (raw float32, or uint8 when the graph normalizes) and prints its
//                      shape and transform, to compare with another runtime's pre-processing
//   --decode           runs no model: each argument after the options is a CASE.json
//                      {"outputs": [{"file", "shape"}], "transform": {"gain_x", "gain_y",
//                      "pad_x", "pad_y", "width", "height"}, "image_size": [h, w]} naming raw
//                      float32 output tensors (paths relative to the case file); it decodes
//                      them with metadata.json (masks included) and prints
//                      {"case", "predictions", "masks", "class_map"}: every mask written as
//                      CASE.mask<n>.png (0 / 255), a semantic class map as CASE.class_map.bin
//                      (int32, h x w), to compare with another runtime's post-processing
#include <cstdlib>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "model_wrapper.h"

namespace {

std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return out + "\"";
}

int dump_tensors(const std::string& metadata_path, const std::string& dir, const std::vector<std::string>& images) {
    const slipway::Metadata metadata = slipway::load_metadata(metadata_path);
    std::cout.precision(9);
    for (size_t n = 0; n < images.size(); ++n) {
        cv::Mat bgr = cv::imread(images[n], cv::IMREAD_COLOR);
        if (bgr.empty()) {
            std::cerr << "cannot read image: " << images[n] << "\n";
            return 1;
        }
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        slipway::Transform t;
        const slipway::InputTensor tensor = slipway::preprocess(metadata, rgb, t);
        const std::string path = dir + "/" + std::to_string(n) + ".bin";
        std::ofstream file(path, std::ios::binary);
        if (tensor.is_uint8) {
            file.write(reinterpret_cast<const char*>(tensor.pixels.data()), static_cast<std::streamsize>(tensor.pixels.size()));
        } else {
            file.write(reinterpret_cast<const char*>(tensor.values.data()),
                       static_cast<std::streamsize>(tensor.values.size() * sizeof(float)));
        }
        std::cout << "{\"image\": " << quoted(images[n]) << ", \"tensor\": " << quoted(path) << ", \"dtype\": \""
                  << (tensor.is_uint8 ? "uint8" : "float32") << "\", \"shape\": [";
        for (size_t d = 0; d < tensor.shape.size(); ++d) std::cout << (d ? ", " : "") << tensor.shape[d];
        std::cout << "], \"transform\": {\"gain_x\": " << t.gain_x << ", \"gain_y\": " << t.gain_y
                  << ", \"pad_x\": " << t.pad_x << ", \"pad_y\": " << t.pad_y << "}}" << std::endl;
    }
    return 0;
}

std::string folder_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::vector<float> read_floats(const std::string& path, size_t count) {
    std::ifstream file(path, std::ios::binary);
    std::vector<float> values(count);
    file.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(count * sizeof(float)));
    if (!file || file.gcount() != static_cast<std::streamsize>(count * sizeof(float))) {
        throw std::runtime_error("cannot read " + std::to_string(count) + " float32 values from " + path);
    }
    return values;
}

int decode_cases(const std::string& metadata_path, const std::vector<std::string>& cases, float conf, double iou) {
    const slipway::Metadata metadata = slipway::load_metadata(metadata_path);
    for (const std::string& case_path : cases) {
        cv::FileStorage file(case_path, cv::FileStorage::READ | cv::FileStorage::FORMAT_JSON);
        if (!file.isOpened()) throw std::runtime_error("cannot read " + case_path);
        std::vector<slipway::Tensor> outputs;
        for (const auto& node : file["outputs"]) {
            slipway::Tensor tensor;
            size_t count = 1;
            for (const auto& d : node["shape"]) {
                tensor.shape.push_back(static_cast<int>(d));
                count *= static_cast<size_t>(static_cast<int>(d));
            }
            tensor.data = read_floats(folder_of(case_path) + "/" + static_cast<std::string>(node["file"]), count);
            outputs.push_back(std::move(tensor));
        }
        const cv::FileNode tn = file["transform"];
        slipway::Transform t;
        t.gain_x = static_cast<float>(static_cast<double>(tn["gain_x"]));
        t.gain_y = static_cast<float>(static_cast<double>(tn["gain_y"]));
        t.pad_x = static_cast<float>(static_cast<double>(tn["pad_x"]));
        t.pad_y = static_cast<float>(static_cast<double>(tn["pad_y"]));
        t.width = static_cast<int>(tn["width"]);
        t.height = static_cast<int>(tn["height"]);
        const int h = static_cast<int>(file["image_size"][0]), w = static_cast<int>(file["image_size"][1]);
        const auto predictions = slipway::decode(metadata, outputs, t, h, w, conf, iou, true);
        const std::string stem = case_path.substr(0, case_path.rfind(".json"));
        std::cout << "{\"case\": " << quoted(case_path) << ", \"predictions\": " << slipway::to_json(predictions)
                  << ", \"masks\": [";
        for (size_t n = 0; n < predictions.size(); ++n) {
            if (n) std::cout << ", ";
            if (predictions[n].mask.empty()) {
                std::cout << "null";
                continue;
            }
            const std::string mask_path = stem + ".mask" + std::to_string(n) + ".png";
            cv::imwrite(mask_path, predictions[n].mask * 255);
            std::cout << quoted(mask_path);
        }
        std::cout << "]";
        if (metadata.postprocessing == "semantic_logits") {
            const cv::Mat labels = slipway::class_map(metadata, outputs, t, h, w);
            const std::string map_path = stem + ".class_map.bin";
            std::ofstream out(map_path, std::ios::binary);
            for (int y = 0; y < labels.rows; ++y) {
                out.write(reinterpret_cast<const char*>(labels.ptr<int>(y)),
                          static_cast<std::streamsize>(labels.cols * sizeof(int)));
            }
            std::cout << ", \"class_map\": " << quoted(map_path);
        }
        std::cout << "}" << std::endl;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " model.onnx metadata.json [--conf C] [--iou I] [--masks] image...\n"
                  << "       " << argv[0] << " - metadata.json --dump-tensor DIR image...\n"
                  << "       " << argv[0] << " - metadata.json --decode [--conf C] [--iou I] case.json...\n";
        return 2;
    }
    float conf = -1.0f;  // negative: metadata.json's defaults
    double iou = -1.0;
    bool masks = false, decode = false;
    std::string dump_dir;
    std::vector<std::string> images;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--conf" && i + 1 < argc) {
            conf = std::strtof(argv[++i], nullptr);
        } else if (arg == "--iou" && i + 1 < argc) {
            iou = std::strtod(argv[++i], nullptr);
        } else if (arg == "--dump-tensor" && i + 1 < argc) {
            dump_dir = argv[++i];
        } else if (arg == "--masks") {
            masks = true;
        } else if (arg == "--decode") {
            decode = true;
        } else {
            images.push_back(arg);
        }
    }
    try {
        if (!dump_dir.empty()) return dump_tensors(argv[2], dump_dir, images);
        if (decode) return decode_cases(argv[2], images, conf, iou);
        slipway::ModelWrapper model(argv[1], argv[2]);
        for (const auto& path : images) {
            cv::Mat image = cv::imread(path, cv::IMREAD_COLOR);
            if (image.empty()) {
                std::cerr << "cannot read image: " << path << "\n";
                return 1;
            }
            const auto predictions = model.predict(image, conf, iou, masks);
            std::cout << "{\"image\": " << quoted(path) << ", \"predictions\": " << slipway::to_json(predictions)
                      << "}" << std::endl;
        }
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
    return 0;
}

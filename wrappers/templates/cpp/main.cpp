// Example: ./slipway_example model.onnx metadata.json [--conf 0.25] [--iou 0.7] image...
// prints one JSON line per image: {"image": ..., "predictions": [...]}, the
// predictions in the Python wrapper's shape.
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "model_wrapper.h"

int main(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " model.onnx metadata.json [--conf C] [--iou I] image...\n";
        return 2;
    }
    float conf = -1.0f, iou = -1.0f;  // negative: metadata.json's defaults
    std::vector<std::string> images;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--conf" || arg == "--iou") && i + 1 < argc) {
            (arg == "--conf" ? conf : iou) = std::strtof(argv[++i], nullptr);
        } else {
            images.push_back(arg);
        }
    }
    try {
        slipway::ModelWrapper model(argv[1], argv[2]);
        for (const auto& path : images) {
            cv::Mat image = cv::imread(path, cv::IMREAD_COLOR);
            if (image.empty()) {
                std::cerr << "cannot read image: " << path << "\n";
                return 1;
            }
            const auto predictions = model.predict(image, conf, iou);
            std::ostringstream name;
            name << "{\"image\": \"";
            for (char c : path) name << ((c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c));
            std::cout << name.str() << "\", \"predictions\": "
                      << slipway::to_json(predictions, model.is_classifier()) << "}" << std::endl;
        }
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
    return 0;
}

// swift-tools-version:5.7
// The Slipway model wrapper as a Swift package: add this folder to an Xcode project
// (File > Add Package Dependencies > Add Local...) and bundle model.mlpackage and
// metadata.json with the app.
import PackageDescription

let package = Package(
    name: "SlipwayModel",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "SlipwayModel", targets: ["SlipwayModel"]),
    ],
    targets: [
        .target(name: "SlipwayModel", path: ".", exclude: ["ViewController.swift"], sources: ["ModelWrapper.swift", "Preprocessing.swift", "Postprocessing.swift"]),
    ]
)

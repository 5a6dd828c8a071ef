// swift-tools-version:5.9
// An example of a model gate: this package's own `swift test` fails when a bundled model loses a
// certified property. It depends on Certus by path (the repository two folders up); a project of
// your own would use `.package(url: ..., from: ...)` or the path of its clone.
import PackageDescription

let package = Package(
    name: "ModelGate",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Certus", path: "../.."),
    ],
    targets: [
        .testTarget(name: "ModelGateTests", dependencies: [.product(name: "Certus", package: "Certus")]),
    ]
)

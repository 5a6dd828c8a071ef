// swift-tools-version:5.9
import PackageDescription

// Module map (data flows one way: model -> graph -> property -> bounds -> search -> report):
//   CGLPK, CBLAS       system libraries (Debian libglpk-dev, libopenblas-dev)
//   CertusTensor       dense Double tensors and BLAS-backed linear algebra
//   CertusGraph        graph IR, the Operator protocol and one file per operator
//   CertusONNX         ONNX protobuf types (generated, internal), binary/JSON loading, conversion
//   CertusLP           GLPK wrapper: LPs and MILPs, defensive
//   CertusSpec         VNNLIB and JSON robustness specs, the Property type
//   CertusBounds       IBP, CROWN and alpha-CROWN bound propagation
//   CertusVerify       the verification pipeline: falsification (attack), prover seam, batch runs
//   CertusLipschitz    certified local Lipschitz constants on the Clarke Jacobian graph
//   CertusCheck        `certus check`: a manifest of expected properties run as a CI gate (Yams for YAML)
//   Certus             umbrella module: `import Certus` gives the whole library
//   certus (CLI/)      the command-line tool; parses arguments and prints
let package = Package(
    name: "Certus",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Certus", targets: ["Certus"]),
        .executable(name: "certus", targets: ["certus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // Documentation only: `swift package generate-documentation --target Certus` (DocC).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CGLPK", path: "Sources/CGLPK", providers: [.apt(["libglpk-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CertusTensor", dependencies: ["CBLAS"]),
        .target(name: "CertusGraph", dependencies: ["CertusTensor"]),
        .target(name: "CertusONNX", dependencies: [
            "CertusGraph", "CertusTensor",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "CertusLP", dependencies: ["CGLPK"]),
        .target(name: "CertusSpec"),
        .target(name: "CertusBounds", dependencies: ["CertusTensor", "CertusGraph", "CertusSpec"]),
        .target(name: "CertusVerify", dependencies: [
            "CertusGraph", "CertusSpec", "CertusBounds", "CertusLP",
            .product(name: "HeapModule", package: "swift-collections"),
        ]),
        .target(name: "CertusLipschitz", dependencies: ["CertusTensor", "CertusGraph", "CertusSpec", "CertusBounds", "CertusVerify", "CertusLP"]),
        .target(name: "CertusCheck", dependencies: [
            "CertusTensor", "CertusGraph", "CertusONNX", "CertusSpec", "CertusBounds", "CertusVerify", "CertusLipschitz",
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "Certus", dependencies: [
            "CertusTensor", "CertusGraph", "CertusONNX", "CertusLP", "CertusSpec", "CertusBounds", "CertusVerify", "CertusLipschitz", "CertusCheck",
        ]),
        .executableTarget(name: "certus", dependencies: [
            "Certus",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "CLI"),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "CertusGraphTests", dependencies: ["Certus", "TestSupport"]),
        .testTarget(name: "CertusONNXTests", dependencies: ["Certus", "CertusONNX", "TestSupport"]),
        .testTarget(name: "CertusLPTests", dependencies: ["CertusLP"]),
        .testTarget(name: "CertusSpecTests", dependencies: ["Certus"]),
        .testTarget(name: "CertusBoundsTests", dependencies: ["Certus", "TestSupport"]),
        .testTarget(name: "CertusVerifyTests", dependencies: ["Certus", "TestSupport"]),
        .testTarget(name: "CertusLipschitzTests", dependencies: ["Certus", "TestSupport"]),
        .testTarget(name: "CertusCheckTests", dependencies: ["Certus", "CertusONNX", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Certus", "CertusONNX", "TestSupport", "certus"]),
        .testTarget(name: "CertusTests", dependencies: ["Certus", "TestSupport", "certus"]),
    ]
)

// libFuzzer targets for the readers (issue 15; docs/reliability.md "Fuzzed readers and sanitizer
// builds"). Declared only when CERTUS_FUZZ is set, so `swift build`, `swift test` and CI never
// compile them; scripts/fuzz.sh sets it and builds with `--sanitize=fuzzer`. They live in this
// manifest (not a package of their own) because the readers' entry points are `package` API.
if Context.environment["CERTUS_FUZZ"] != nil {
    package.targets += [
        .executableTarget(name: "FuzzONNXBinary", dependencies: ["CertusONNX"], path: "Fuzz/FuzzONNXBinary"),
        .executableTarget(name: "FuzzONNXJSON", dependencies: ["CertusONNX"], path: "Fuzz/FuzzONNXJSON"),
        .executableTarget(name: "FuzzVNNLib", dependencies: ["CertusSpec"], path: "Fuzz/FuzzVNNLib"),
        .executableTarget(name: "FuzzSpecJSON", dependencies: ["CertusSpec"], path: "Fuzz/FuzzSpecJSON"),
    ]
}

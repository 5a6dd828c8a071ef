#!/usr/bin/env bash
# Regenerates Sources/CertusONNX/onnx.pb.swift from proto/onnx.proto (copied from the onnx 1.23.2 wheel).
# Needs protoc (Debian protobuf-compiler) and protoc-gen-swift built from apple/swift-protobuf 1.39.0
# (`swift build -c release --product protoc-gen-swift` in a checkout of it), on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
protoc --proto_path=proto --swift_out=Sources/CertusONNX --swift_opt=Visibility=Internal proto/onnx.proto

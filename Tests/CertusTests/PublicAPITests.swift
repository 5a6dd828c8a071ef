import XCTest
import Foundation
import Certus
import TestSupport

/// The public surface of the library (issue 13): every `public` declaration in `Sources/` carries
/// a doc comment, the engine modules (tensors, graph and operators, ONNX reading, LPs, the bound
/// engine's internals) keep their declarations `package`, and the front door covers what the
/// command line does (`inspect`, `eval`, `convert`, `supports`) with the same answers as the
/// engine underneath.
final class PublicAPITests: XCTestCase {
    /// One `public` declaration found in a source file.
    struct Declaration: CustomStringConvertible {
        var file: String, line: Int, text: String
        var description: String { "\(file):\(line): \(text)" }
    }

    /// Every line of `Sources/**/*.swift` that declares something `public` or `open` (comments
    /// skipped), with whether the lines above it (attributes skipped) end in a doc comment.
    static func publicDeclarations() throws -> [(Declaration, documented: Bool)] {
        let root = TestData.repoRoot.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }.sorted { $0.path < $1.path }
        XCTAssertGreaterThan(files.count, 50, "found too few source files under \(root.path)")
        let decl = try NSRegularExpression(pattern: #"^(@\w+(\([^)]*\))?\s+)*(public|open)\s+[a-z@(]"#)
        var out: [(Declaration, Bool)] = []
        for f in files {
            let lines = try String(contentsOf: f, encoding: .utf8).components(separatedBy: "\n")
            for (i, raw) in lines.enumerated() {
                let s = raw.trimmingCharacters(in: .whitespaces)
                guard !s.hasPrefix("//"), decl.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil,
                      !s.hasPrefix("public import") else { continue }
                var j = i - 1
                while j >= 0, lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("@") { j -= 1 }
                let above = j >= 0 ? lines[j].trimmingCharacters(in: .whitespaces) : ""
                let rel = String(f.path.dropFirst(root.path.count + 1))
                out.append((Declaration(file: rel, line: i + 1, text: s), above.hasPrefix("///") || above.hasSuffix("*/")))
            }
        }
        return out
    }

    /// Conformance witnesses (Codable, CustomStringConvertible, Hashable) take the protocol's
    /// documentation; everything else needs its own.
    static let inheritsDocumentation = ["public init(from decoder", "public func encode(to encoder", "public var description: String",
                                        "public static func ==", "public func hash(into", "public var debugDescription"]

    func testEveryPublicDeclarationIsDocumented() throws {
        let all = try Self.publicDeclarations()
        XCTAssertGreaterThan(all.count, 300, "the scan found too few public declarations; is the pattern broken?")
        let missing = all.filter { d, documented in
            !documented && !Self.inheritsDocumentation.contains { d.text.hasPrefix($0) }
        }.map(\.0)
        XCTAssertTrue(missing.isEmpty, "public declarations without a doc comment:\n" + missing.map(\.description).joined(separator: "\n"))
    }

    /// The engine modules export nothing publicly except the settings vocabulary the front door's
    /// options name (`BranchingPointStrategy`, in CertusGraph); the generated ONNX protobuf types
    /// stay internal.
    func testEngineModulesArePackageOnly() throws {
        let engine = ["CertusTensor/", "CertusGraph/", "CertusONNX/", "CertusLP/"]
        let exposed = try Self.publicDeclarations().map(\.0).filter { d in engine.contains { d.file.hasPrefix($0) } }
        XCTAssertEqual(exposed.map(\.text), ["public enum BranchingPointStrategy: String, Sendable, Codable, CaseIterable {"],
                       "engine declarations made public:\n" + exposed.map(\.description).joined(separator: "\n"))
        let onnx = try Self.publicDeclarations().map(\.0).filter { $0.text.contains("Onnx_") }
        XCTAssertTrue(onnx.isEmpty, "generated protobuf types exposed: \(onnx)")
    }

    /// The namespace's aliases name the same types as the modules (`Certus.X` must compile for a
    /// dependent package, where the module and the namespace share the name).
    func testNamespaceAliases() throws {
        let r: Certus.VerificationResult = try Certus.verify(model: .file(TestData.repoPath("Models/mlp_tanh.onnx")),
                                                            spec: .file(TestData.repoPath("Specs/mlp_tanh_a.json")),
                                                            options: .init(timeout: 30))
        XCTAssertEqual(r.status, Certus.VerificationStatus.unsat, "\(r.details)")
        XCTAssertTrue(Certus.Property.self == Property.self && Certus.CheckReport.self == CheckReport.self)
    }

    // MARK: the model commands through the front door

    func testEvaluateMatchesTheGraph() throws {
        let path = TestData.repoPath("Models/mlp_tanh.onnx")
        let x = [0.3, -0.2, 0.9, 0.1]
        let outs = try Certus.evaluate(model: .file(path), input: x)
        XCTAssertEqual(outs.count, 1)
        let direct = try Certus.Model.load(path).graph().evaluateFirst(x)
        XCTAssertEqual(outs[0].values, direct)
        XCTAssertEqual(outs[0].values.count, outs[0].shape.reduce(1, *))
        let d = try Certus.dimensions(of: .file(path))
        XCTAssertEqual(d.inputs, 4)
        XCTAssertEqual(d.outputs, outs[0].values.count)
        // A wrong input length is a typed error naming what was expected.
        XCTAssertThrowsError(try Certus.evaluate(model: .file(path), input: [1, 2])) { e in
            let ce = e as? CertusError
            XCTAssertNotNil(ce, "\(e)")
            XCTAssertTrue(ce.map { $0.message.contains("4") } ?? false, "\(e)")
        }
    }

    func testInspectConvertAndSupports() throws {
        let path = TestData.repoPath("Models/mlp_tanh.onnx")
        let s = try Certus.inspect(model: .file(path))
        XCTAssertEqual(s.inputs.first?.shape.reduce(1, *), 4)
        XCTAssertGreaterThan(s.parameters, 0)
        XCTAssertNotNil(s.opCounts["Tanh"])

        let dir = try TestData.makeTemporaryFolder("certus-api")
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("m.json").path, back = dir.appendingPathComponent("m.onnx").path
        XCTAssertEqual(try Certus.convert(model: path, to: json), "json")
        XCTAssertEqual(try Certus.convert(model: json, to: back), "binary")
        let x = [0.1, 0.2, -0.3, 0.4]
        XCTAssertEqual(try Certus.evaluate(model: .file(back), input: x), try Certus.evaluate(model: .file(path), input: x))
        XCTAssertThrowsError(try Certus.convert(model: dir.appendingPathComponent("missing.onnx").path, to: json)) { e in
            XCTAssertTrue(e is CertusError, "\(e)")
        }

        let ops = Certus.supportedOperators
        XCTAssertEqual(ops.map(\.opType), ops.map(\.opType).sorted())
        for name in ["Relu", "Sigmoid", "Conv", "Gemm", "Slice"] { XCTAssertTrue(ops.contains { $0.opType == name }, name) }
        XCTAssertTrue(ops.allSatisfy { $0.minOpset <= $0.maxOpset })
        let text = String(decoding: try JSONEncoder().encode(ops[0]), as: UTF8.self)
        XCTAssertTrue(text.contains("\"op_type\"") && text.contains("\"min_opset\""), text)
    }
}

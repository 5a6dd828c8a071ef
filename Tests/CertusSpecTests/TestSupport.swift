import Foundation
import XCTest
import CertusSpec

/// Locates `shared/` next to the repository root (the folder holding Package.swift),
/// or at `$CERTUS_SHARED`.
enum SharedData {
    static let root: String = {
        if let env = ProcessInfo.processInfo.environment["CERTUS_SHARED"], !env.isEmpty {
            return env
        }
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" && !dir.path.isEmpty {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                return dir.deletingLastPathComponent().appendingPathComponent("shared").path
            }
            dir = dir.deletingLastPathComponent()
        }
        return "(shared data folder not found from \(#filePath); set CERTUS_SHARED)"
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    /// Files with the given extension directly inside `relativeDir`, sorted.
    static func files(in relativeDir: String, ext: String) throws -> [String] {
        let dir = path(relativeDir)
        return try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { $0.hasSuffix("." + ext) }
            .sorted()
            .map { dir + "/" + $0 }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// One row of a reference file: atom `c . y <= d` of clause `clause` in box `box`.
struct RefRow: Decodable {
    let box: Int
    let clause: Int
    let c: [Double]
    let d: Double
}

/// `reference/vnncomp/*.ref.json` (only the fields the tests use).
struct VNNCompRef: Decodable {
    let spec: String
    let input_shape: [Int]
    let rows: [RefRow]
}

/// `reference/zoo/<model>/<spec>.ref.json` (only the fields the tests use).
struct ZooRef: Decodable {
    struct Bounds: Decodable { let rows: [RefRow]; let input_shape: [Int] }
    struct Attack: Decodable { let counterexample_found: Bool; let x: [Double]?; let x_float32: [Double]? }
    let epsilon: Double
    let label: Int
    let bounds: Bounds
    let attack: Attack
}

/// `reference/zoo/<model>/eval_ref.json`.
struct EvalRef: Decodable {
    struct Case: Decodable { let input: [Double]; let output: [Double] }
    let cases: [Case]
}

/// Runs `body`, expecting a `SpecError`; returns it (nil and a failure otherwise).
@discardableResult
func expectSpecError(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> SpecError? {
    do {
        let value = try body()
        XCTFail("expected a SpecError, got \(value)", file: file, line: line)
        return nil
    } catch let e as SpecError {
        return e
    } catch {
        XCTFail("expected a SpecError, got \(type(of: error)): \(error)", file: file, line: line)
        return nil
    }
}

/// Asserts that `text` contains every fragment.
func assertContains(_ text: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
    for f in fragments where !text.contains(f) {
        XCTFail("'\(text)' does not contain '\(f)'", file: file, line: line)
    }
}

/// Unit vector difference `e_a - e_b` of length n.
func diff(_ n: Int, _ a: Int, _ b: Int) -> [Double] {
    var c = [Double](repeating: 0, count: n)
    c[a] = 1
    c[b] = -1
    return c
}

import Foundation

/// Paths and small readers shared by the test targets.
public enum TestData {
    /// The repository root (the folder holding Package.swift).
    public static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url = url.deletingLastPathComponent()
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// `../shared` beside the clone, or `$CERTUS_SHARED`.
    public static let shared: URL = {
        if let env = ProcessInfo.processInfo.environment["CERTUS_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// The smallest value of `f` on a (steps + 1) x (steps + 1) grid of [-1, 1]^2 (with a
    /// Lipschitz bound L in the L-inf norm, the true minimum is at least this minus L / steps).
    public static func gridMinimum(steps n: Int = 200, _ f: ([Double]) throws -> Double) rethrows -> Double {
        var m = Double.infinity
        for i in 0...n {
            for j in 0...n { m = min(m, try f([-1 + 2 * Double(i) / Double(n), -1 + 2 * Double(j) / Double(n)])) }
        }
        return m
    }

    public static func sharedPath(_ relative: String) -> String { shared.appendingPathComponent(relative).path }
    public static func repoPath(_ relative: String) -> String { repoRoot.appendingPathComponent(relative).path }

    /// The zoo model folders of shared/reference/zoo (those holding a model.onnx), sorted.
    public static var zooModels: [String] {
        let zoo = sharedPath("reference/zoo")
        return ((try? FileManager.default.contentsOfDirectory(atPath: zoo)) ?? []).filter {
            FileManager.default.fileExists(atPath: "\(zoo)/\($0)/model.onnx")
        }.sorted()
    }

    /// Files in a shared folder with the given extension, sorted.
    public static func files(in relative: String, ext: String) -> [String] {
        let dir = sharedPath(relative)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix("." + ext) }.sorted().map { dir + "/" + $0 }
    }

    /// Parses a VNN-COMP counterexample `((X_0 v) ... (Y_0 v) ...)` into x and y.
    public static func parseWitness(_ text: String) -> (x: [Double], y: [Double]) {
        var x: [Int: Double] = [:], y: [Int: Double] = [:]
        let cleaned = text.replacingOccurrences(of: "(", with: " ").replacingOccurrences(of: ")", with: " ")
        let tokens = cleaned.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        var i = 0
        while i + 1 < tokens.count {
            let name = tokens[i]
            if name.hasPrefix("X_"), let k = Int(name.dropFirst(2)), let v = Double(tokens[i + 1]) { x[k] = v; i += 2; continue }
            if name.hasPrefix("Y_"), let k = Int(name.dropFirst(2)), let v = Double(tokens[i + 1]) { y[k] = v; i += 2; continue }
            i += 1
        }
        return ((0..<x.count).map { x[$0] ?? .nan }, (0..<y.count).map { y[$0] ?? .nan })
    }

    /// The built `certus` executable (tests depend on it, so it sits beside the test bundle).
    public static var certusBinary: URL {
        let env = ProcessInfo.processInfo.environment["CERTUS_BIN"]
        if let env, !env.isEmpty { return URL(fileURLWithPath: env) }
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("certus")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        for b in Bundle.allBundles {
            let candidate = b.bundleURL.deletingLastPathComponent().appendingPathComponent("certus")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return repoRoot.appendingPathComponent(".build/debug/certus")
    }

    /// Starts `certus` with arguments (and `environment`, when given, instead of this process's),
    /// stdin closed; returns the process and its stdout and stderr pipes.
    public static func startCertus(_ args: [String], environment: [String: String]? = nil) throws -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = certusBinary
        p.arguments = args
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    /// Runs `certus` with arguments; returns exit code, stdout and stderr.
    public static func runCertus(_ args: [String], timeout: TimeInterval = 120) throws -> (code: Int32, out: String, err: String) {
        let (p, outPipe, errPipe) = try startCertus(args)
        // Read before waiting so a full pipe cannot block the child.
        let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
        let errData = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// |a - b| <= rel * max(|b|, floor): relative agreement with an absolute floor for values near 0.
    public static func close(_ a: Double, _ b: Double, rel: Double, floor: Double = 1e-2) -> Bool {
        abs(a - b) <= rel * max(abs(b), floor)
    }
}

extension TestData {
    /// A new empty folder `<prefix>-<UUID>` in the temporary directory (the caller removes it,
    /// usually in `tearDownWithError`).
    public static func makeTemporaryFolder(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

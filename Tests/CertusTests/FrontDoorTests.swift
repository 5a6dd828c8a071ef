import XCTest
import Foundation
import Certus
import TestSupport

/// The front door (`Certus.verify`, `bounds`, `lipschitz`, `check`): specs built in code against
/// spec files and sampled outputs, the JSON forms against the command line's, typed errors with
/// their places, cancellation, and the BLAS thread count restored after a call.
final class FrontDoorTests: XCTestCase {
    let model = TestData.repoPath("Models/mlp_tanh.onnx")
    let specFile = TestData.repoPath("Specs/mlp_tanh_a.json")
    let center = [1.3166, -0.4369, 1.2701, -0.0683]
    let epsilon = 0.0955
    var ball: Certus.Region { .ball(center: center, epsilon: epsilon) }

    /// The outputs at `n` uniform points of the ball (and its centre), evaluated in Double.
    func sampledOutputs(_ n: Int) throws -> [[Double]] {
        let g = try Certus.Model.load(model).graph()
        var rng = SystemRandomNumberGenerator()
        var out: [[Double]] = [try g.evaluateFirst(center)]
        for _ in 0..<n {
            let x = center.map { $0 + Double.random(in: -epsilon...epsilon, using: &rng) }
            out.append(try g.evaluateFirst(x))
        }
        return out
    }

    /// A robustness spec built in code gives the file's rows and answer; the JSON of both
    /// results is the command line's (`certus bounds --json`, `certus verify --json`).
    func testRobustnessInCodeMatchesTheSpecFileAndTheCLI() throws {
        let inCode = Certus.Spec.robustness(ball, label: 0)
        let a = try Certus.bounds(model: .file(model), spec: inCode)
        let b = try Certus.bounds(model: .file(model), spec: .file(specFile))
        XCTAssertEqual(a.rows.map(\.c), b.rows.map(\.c))
        XCTAssertEqual(a.rows.map(\.d), b.rows.map(\.d))
        XCTAssertEqual(a.rows.map(\.lower), b.rows.map(\.lower))
        XCTAssertTrue(a.verified)

        let cli = try TestData.runCertus(["bounds", model, specFile, "--json"])
        XCTAssertEqual(cli.code, 0, cli.err)
        func object(_ d: Data) throws -> NSDictionary {
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: d) as? [String: Any])
            return NSDictionary(dictionary: o.filter { $0.key != "time_s" })
        }
        XCTAssertEqual(try object(Data(cli.out.utf8)), try object(Certus.jsonEncoder().encode(b)))

        let v = try Certus.verify(model: .file(model), spec: inCode)
        XCTAssertEqual(v.status, .unsat)
        let vc = try TestData.runCertus(["verify", model, specFile, "--json"])
        let back = try Certus.jsonDecoder().decode(VerificationResult.self, from: Data(vc.out.utf8))
        XCTAssertEqual(back.status, v.status)
        XCTAssertEqual(back.method, v.method)
        let keys = Set((try JSONSerialization.jsonObject(with: Certus.jsonEncoder().encode(v)) as? [String: Any] ?? [:]).keys)
        XCTAssertEqual(keys, Set((try JSONSerialization.jsonObject(with: Data(vc.out.utf8)) as? [String: Any] ?? [:]).keys))
    }

    /// Output constraints mean what they say: the bounds of `y_0 >= v` and `y_0 <= w` enclose every
    /// sampled y_0; a threshold below the certified lower bound is proven, one below a sampled
    /// value is refuted with a counterexample that really exceeds it.
    func testOutputConstraintsAgainstSamples() throws {
        let atLeast = try Certus.bounds(model: .file(model), spec: .outputs(ball, satisfy: [.output(0, atLeast: 0)]))
        let atMost = try Certus.bounds(model: .file(model), spec: .outputs(ball, satisfy: [.output(0, atMost: 0)]))
        let lo = atLeast.rows[0].lower, hi = -atMost.rows[0].lower     // rows y_0 - 0 and 0 - y_0
        let ys = try sampledOutputs(500).map { $0[0] }
        XCTAssertLessThanOrEqual(lo, ys.min()!)
        XCTAssertGreaterThanOrEqual(hi, ys.max()!)

        let proven = try Certus.verify(model: .file(model), spec: .outputs(ball, satisfy: [.output(0, atLeast: lo - 0.01)]))
        XCTAssertEqual(proven.status, .unsat)
        let w = (ys.min()! + ys.max()!) / 2
        let refuted = try Certus.verify(model: .file(model), spec: .outputs(ball, satisfy: [.output(0, atMost: w)]))
        XCTAssertEqual(refuted.status, .sat)
        let cx = try XCTUnwrap(refuted.counterexample)
        XCTAssertGreaterThanOrEqual(cx.y[0], w)
        XCTAssertTrue(InputBox(lower: center.map { $0 - epsilon }, upper: center.map { $0 + epsilon }).contains(cx.x))

        // A margin no output can keep is violated; margin 0 holds (as the spec file).
        XCTAssertEqual(try Certus.verify(model: .file(model), spec: .robustness(ball, label: 0, margin: 1000)).status, .sat)
        // A box region equals the same ball.
        let box = Certus.Region.box(lower: center.map { $0 - epsilon }, upper: center.map { $0 + epsilon })
        XCTAssertEqual(try Certus.bounds(model: .file(model), spec: .robustness(box, label: 0)).rows.map(\.lower),
                       try Certus.bounds(model: .file(model), spec: .robustness(ball, label: 0)).rows.map(\.lower))
    }

    /// Lipschitz through the front door: certified above every sampled finite-difference slope,
    /// and the JSON is `certus lipschitz --json`'s.
    func testLipschitzReportIsTheCLIJSON() throws {
        var o = Certus.LipschitzOptions()
        o.settings.samples = 200
        let r = try Certus.lipschitz(model: .file(model), region: ball, options: o)
        XCTAssertGreaterThanOrEqual(r.upper, r.lower)
        XCTAssertGreaterThan(r.lower, 0)
        let back = try Certus.jsonDecoder().decode(LipschitzReport.self, from: Certus.jsonEncoder().encode(r))
        XCTAssertEqual(back, r)
        let cli = try TestData.runCertus(["lipschitz", model, specFile, "--samples", "200", "--json"])
        XCTAssertEqual(cli.code, 0, cli.err)
        let fromCLI = try Certus.jsonDecoder().decode(LipschitzReport.self, from: Data(cli.out.utf8))
        XCTAssertEqual(fromCLI.upper, r.upper)
        XCTAssertEqual(fromCLI.lower, r.lower)
        XCTAssertNil(fromCLI.exact)
    }

    /// Errors are `CertusError`s that name the file and the line, or the place in code.
    func testTypedErrorsNameTheirPlace() throws {
        func error(_ body: () throws -> Void) -> CertusError? {
            do { try body(); XCTFail("no error"); return nil } catch let e as CertusError { return e } catch {
                XCTFail("not a CertusError: \(error)"); return nil
            }
        }
        let missing = error { _ = try Certus.verify(model: .file("/nonexistent/m.onnx"), spec: .file(specFile)) }
        XCTAssertEqual(missing?.kind, .model)
        XCTAssertEqual(missing?.file, "/nonexistent/m.onnx")
        XCTAssertTrue(missing?.description.hasPrefix("/nonexistent/m.onnx: ") ?? false, missing?.description ?? "")

        let dir = try TestData.makeTemporaryFolder("certus-front")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.vnnlib").path
        try "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 0.5)\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let spec = error { _ = try Certus.bounds(model: .file(model), spec: .file(bad)) }
        XCTAssertEqual(spec?.kind, .spec)
        XCTAssertEqual(spec?.file, bad)
        XCTAssertNotNil(spec?.line)
        XCTAssertTrue(spec?.description.hasPrefix("\(bad):\(spec?.line ?? 0):") ?? false, spec?.description ?? "")

        let label = error { _ = try Certus.verify(model: .file(model), spec: .robustness(ball, label: 7)) }
        XCTAssertEqual(label?.kind, .spec)
        XCTAssertTrue(label?.description.contains("Certus.Region.ball") ?? false, label?.description ?? "")
        XCTAssertTrue(label?.description.contains("label 7") ?? false, label?.description ?? "")

        let size = error { _ = try Certus.verify(model: .file(model), spec: .robustness(.ball(center: [0, 0], epsilon: 0.1), label: 0)) }
        XCTAssertEqual(size?.kind, .spec)
        let output = error { _ = try Certus.bounds(model: .file(model), spec: .outputs(ball, satisfy: [.output(9, atLeast: 0)])) }
        XCTAssertTrue(output?.description.contains("output 9 does not exist") ?? false, output?.description ?? "")
        let emptyBox = error { _ = try Certus.lipschitz(model: .file(model), region: .box(lower: [0, 0, 0, 1], upper: [1, 1, 1, 0])) }
        XCTAssertTrue(emptyBox?.description.contains("coordinate 3") ?? false, emptyBox?.description ?? "")
        let l2exact = error {
            var o = Certus.LipschitzOptions(norm: .l2); o.exact = true
            _ = try Certus.lipschitz(model: .file(model), region: ball, options: o)
        }
        XCTAssertEqual(l2exact?.kind, .settings)
    }

    /// A cancelled token stops a verification that would otherwise run for minutes (an attack
    /// told to use its whole budget on a property that holds), and the call says `cancelled`.
    func testCancellationStopsVerification() throws {
        var o = Certus.VerifyOptions(method: .attack, timeout: 600)
        o.settings.attackUntilDeadline = true
        let token = CancellationToken()
        o.cancellation = token
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { token.cancel() }
        XCTAssertThrowsError(try Certus.verify(model: .file(model), spec: .file(specFile), options: o)) { e in
            XCTAssertEqual((e as? CertusError)?.kind, .cancelled)
        }
        // Cancelled before it starts: nothing runs.
        XCTAssertThrowsError(try Certus.bounds(model: .file(model), spec: .file(specFile),
                                               options: { var b = Certus.BoundsOptions(); b.cancellation = token; return b }()))
    }

    /// The async variant stops when its task is cancelled.
    func testTaskCancellationStopsVerification() async throws {
        var o = Certus.VerifyOptions(method: .attack, timeout: 600)
        o.settings.attackUntilDeadline = true
        let spec = Certus.Spec.file(specFile), m = Certus.Model.file(model)
        let task = Task { try await Certus.verify(model: m, spec: spec, options: o) }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("not cancelled")
        } catch let e as CertusError {
            XCTAssertEqual(e.kind, .cancelled)
        }
        let done = try await Certus.verify(model: m, spec: spec)
        XCTAssertEqual(done.status, .unsat)
    }

    /// A call runs BLAS on one thread and gives the process its own thread count back.
    func testBLASThreadCountIsRestored() throws {
        let before = BLAS.threads
        defer { BLAS.setThreads(before) }
        BLAS.setThreads(2)
        guard BLAS.threads == 2 else { throw XCTSkip("this OpenBLAS runs on one thread only") }
        XCTAssertEqual(BLAS.withSingleThread { BLAS.threads }, 1)
        XCTAssertEqual(BLAS.withSingleThread { BLAS.withSingleThread { BLAS.threads } }, 1)
        _ = try Certus.bounds(model: .file(model), spec: .file(specFile), options: .init(method: .alphaCrown))
        _ = try Certus.verify(model: .file(model), spec: .file(specFile))
        let g = try Certus.Model.load(model).graph()
        _ = try BoundEngine(graph: g).bound(property: try Certus.Spec.file(specFile).property(inputs: g.inputCount, outputs: g.outputCount))
        XCTAssertEqual(BLAS.threads, 2)
    }

    /// `Certus.check` runs a manifest in this process; a bad manifest is a `.manifest` error with its line.
    func testCheckThroughTheFrontDoor() throws {
        let report = try Certus.check(manifest: TestData.repoPath("Examples/ci/certus-check.yaml"),
                                      options: { var c = CheckOptions(); c.tags = ["mlp_tanh"]; return c }())
        XCTAssertEqual(report.results.count, 4)
        XCTAssertEqual(report.exitCode, 0, report.table())
        let dir = try TestData.makeTemporaryFolder("certus-front")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("m.json").path
        try "{\"entries\": [\n  {\"model\": \"m.onnx\", \"spec\": \"s\", \"expect\": \"holds\", \"timeuot\": 5}]}".write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Certus.check(manifest: bad)) { e in
            let c = e as? CertusError
            XCTAssertEqual(c?.kind, .manifest)
            XCTAssertEqual(c?.line, 2)
            XCTAssertTrue(c?.description.hasPrefix("\(bad):2:") ?? false, "\(e)")
        }
    }
}

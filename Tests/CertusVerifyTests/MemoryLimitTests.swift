import XCTest
import Foundation
import Certus
import TestSupport

/// `VerifierSettings.memoryLimit`: the growing searches stop at it and the answer is `unknown`
/// (not `timeout`, no final attack), with the limit named in the log.
final class MemoryLimitTests: XCTestCase {
    func testResidentMemoryIsReadAndTheBudgetTrips() {
        let r = ProcessMemory.residentBytes()
        XCTAssertNotNil(r)
        XCTAssertGreaterThan(r ?? 0, 1_000_000, "a test process holds more than 1 MB")
        let roomy = MemoryBudget(limitBytes: 1e15)
        XCTAssertFalse(roomy.exceeded())
        XCTAssertFalse(roomy.isTripped)
        let tight = MemoryBudget(limitBytes: 1_048_576)
        XCTAssertTrue(tight.exceeded())
        XCTAssertTrue(tight.isTripped)
        XCTAssertTrue(tight.message.hasPrefix("memory limit 1 MiB reached"), tight.message)
    }

    func testSettingIsValidated() {
        var s = VerifierSettings()
        s.memoryLimit = 0
        XCTAssertThrowsError(try s.validate())
        s.memoryLimit = .nan
        XCTAssertThrowsError(try s.validate())
        s.memoryLimit = 1_073_741_824
        XCTAssertNoThrow(try s.validate())
    }

    /// A 1 MiB limit (below what the process already holds) stops branch and bound and input
    /// splitting after their first batch: unknown, never unsat, the limit in the details. The same
    /// instances are decided without the limit (so the limit is what stopped them).
    func testSearchesStopAtTheLimitWithUnknown() throws {
        let cases: [(String, String, VerificationMethod)] = [
            ("benchmarks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "benchmarks/acasxu/prop_1.vnnlib", .inputSplit),
            ("reference/zoo/mlp_relu_small/model.onnx", "reference/zoo/mlp_relu_small/b.vnnlib", .branchAndBound),
        ]
        for (model, spec, method) in cases {
            var options = Certus.VerifyOptions(method: method, timeout: 120)
            options.settings.attackRestarts = 2
            let free = try Certus.verify(model: .file(TestData.sharedPath(model)), spec: .file(TestData.sharedPath(spec)), options: options)
            XCTAssertEqual(free.status, .unsat, "\(model): \(free.details)")
            options.settings.memoryLimit = 1_048_576
            let limited = try Certus.verify(model: .file(TestData.sharedPath(model)), spec: .file(TestData.sharedPath(spec)), options: options)
            XCTAssertEqual(limited.status, .unknown, "\(model): \(limited.details)")
            XCTAssertTrue(limited.details.contains { $0.hasPrefix("memory limit 1 MiB reached") }, "\(limited.details)")
        }
    }
}

import XCTest
import Foundation
import Certus
import TestSupport

/// Infinities and NaN that arise while a (finite) model runs propagate as in onnxruntime: one
/// model per operator in Tests/Fixtures/nonfinite_ops (scripts/make-nonfinite-fixtures.py) feeds
/// [1, -1, 0, 2, inf, -inf, nan, inf] to the operator; onnxruntime's outputs are recorded there.
/// The *InfWeights* models hold infinite weights and feed [1, -1, 0, 2]: the 0 times an infinity
/// is NaN through Gemm, MatMul and Conv (BLAS, which may skip zeros, is not used then), padding
/// adds nothing to Conv.
final class NonFiniteEvaluationTests: XCTestCase {
    enum Value: Decodable, CustomStringConvertible {
        case number(Double), word(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Double.self) { self = .number(v) } else { self = .word(try c.decode(String.self)) }
        }
        var description: String { switch self { case .number(let v): return "\(v)"; case .word(let w): return w } }
    }

    struct Expected: Decodable { var input: [Double]; var models: [String: [Value]] }

    func testOperatorsPropagateNonFiniteValuesLikeOnnxruntime() throws {
        let dir = TestData.repoPath("Tests/Fixtures/nonfinite_ops")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json")))
        XCTAssertEqual(expected.models.count, 24)
        var nonFinite = 0
        for (name, values) in expected.models.sorted(by: { $0.key < $1.key }) {
            let y = try ModelFile.load(dir + "/" + name).evaluateFirst(expected.input)
            XCTAssertEqual(y.count, values.count, name)
            for (k, (a, e)) in zip(y, values).enumerated() {
                switch e {
                case .number(let v):
                    XCTAssertTrue(a.isFinite && TestData.close(a, v, rel: 1e-6, floor: 1e-6), "\(name)[\(k)]: certus \(a), onnxruntime \(v)")
                case .word(let w):
                    nonFinite += 1
                    let got = a.isNaN ? "nan" : a == .infinity ? "inf" : a == -.infinity ? "-inf" : "\(a)"
                    XCTAssertEqual(got, w, "\(name)[\(k)]: certus \(a), onnxruntime \(w)")
                }
            }
        }
        XCTAssertGreaterThan(nonFinite, 50)
    }
}

import XCTest
import Foundation
import Certus
import TestSupport

/// Soundness by sampling: every relaxation contains its function, and every method's bounds
/// contain the spec values at random points of the box.
final class SoundnessTests: XCTestCase {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
    }

    /// Random intervals of many widths and positions, with the default and random parameters.
    func testEveryRelaxationContainsItsFunction() {
        let ops: [(String, any ElementwiseRelaxation)] = [
            ("Relu", Relu()), ("LeakyRelu", LeakyRelu(alpha: 0.01)), ("LeakyRelu0.3", LeakyRelu(alpha: 0.3)),
            ("Sigmoid", Sigmoid()), ("Tanh", Tanh()), ("Erf", Erf()), ("Gelu", Gelu()), ("Sin", Sin()), ("Cos", Cos()),
        ]
        var rng = RNG(state: 7)
        for (name, op) in ops {
            var checked = 0
            for trial in 0..<1500 {
                let scale = [0.05, 0.5, 2, 5, 20][trial % 5]
                let a = Double.random(in: -scale...scale, using: &rng) + Double.random(in: -3...3, using: &rng)
                let b = a + Double.random(in: 0...(2 * scale), using: &rng)
                let params: [(Double?, Double?)] = [(nil, nil), (0, 0), (1, 1),
                                                    (Double.random(in: 0...1, using: &rng), Double.random(in: 0...1, using: &rng))]
                let (ilo, ihi) = op.image(l: a, u: b)
                for (pl, pu) in params {
                    let r = op.relaxation(l: a, u: b, lowerParameter: pl, upperParameter: pu)
                    XCTAssertTrue(r.isFinite, "\(name) [\(a), \(b)]")
                    for k in 0...60 {
                        let x = k == 60 ? Double.random(in: a...b, using: &rng) : a + (b - a) * Double(k) / 59.999999
                        let xc = min(b, x)
                        let y = op.apply(xc)
                        let tol = 1e-9 * max(1, abs(y), abs(xc))
                        if !(r.aL * xc + r.bL <= y + tol) || !(y <= r.aU * xc + r.bU + tol) {
                            XCTFail("\(name) on [\(a), \(b)] params \(String(describing: pl)),\(String(describing: pu)): f(\(xc)) = \(y) outside [\(r.aL * xc + r.bL), \(r.aU * xc + r.bU)]")
                            return
                        }
                        XCTAssertTrue(ilo - tol <= y && y <= ihi + tol, "\(name) image [\(ilo), \(ihi)] misses f(\(xc)) = \(y)")
                        checked += 1
                    }
                }
            }
            XCTAssertGreaterThan(checked, 300_000)
        }
    }

    /// 10,000 random points (plus corners and the centre) in each zoo box: every row's value
    /// lies inside [lower, upper] of IBP, CROWN and alpha-CROWN.
    func testZooBoundsContainSampledValues() throws {
        var rng = RNG(state: 11)
        for (m, s) in ReferenceBoundsTests.zooCases {
            let dir = TestData.sharedPath("reference/zoo/\(m)")
            let graph = try ModelFile.load("\(dir)/model.onnx")
            let property = try PropertyLoader.load(path: "\(dir)/\(s).vnnlib", numOutputs: graph.outputCount)
            let atoms = property.rows.map(\.atom)
            let box = property.cases[0].box
            let engine = BoundEngine(graph: graph)
            var fast = BoundSettings(method: .alphaCrown)
            fast.alphaIterations = 20; fast.alphaIntermediateIterations = 5
            let all = try [BoundSettings(method: .ibp), BoundSettings(method: .crown), fast].map {
                try engine.bound(box: box, atoms: atoms, settings: $0)
            }
            var points: [[Double]] = [zip(box.lower, box.upper).map { ($0 + $1) / 2 }, box.lower, box.upper]
            let samples = m.hasPrefix("conv") ? 3000 : 10_000   // conv nets are slower to evaluate in debug builds
            for _ in 0..<samples { points.append(zip(box.lower, box.upper).map { Double.random(in: $0...$1, using: &rng) }) }
            for x in points {
                let y = try graph.evaluateFirst(x)
                for (k, a) in atoms.enumerated() {
                    let v = a.slack(y)!
                    for (method, b) in zip(["IBP", "CROWN", "alpha-CROWN"], all) {
                        let tol = 1e-9 * max(1, abs(v))
                        if !(b[k].lower <= v + tol && v <= b[k].upper + tol) {
                            XCTFail("\(m)/\(s) \(method) row \(k): value \(v) outside [\(b[k].lower), \(b[k].upper)]")
                            return
                        }
                    }
                }
            }
        }
    }
}

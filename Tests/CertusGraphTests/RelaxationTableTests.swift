import XCTest
import Foundation
import Certus
@testable import CertusGraph

/// Tangent-point tables against the per-call bisection they replace, their thread safety, and
/// analytic parameter derivatives of relaxations against central differences.
final class RelaxationTableTests: XCTestCase {
    /// The library's SplitMix64 (the same sequence per seed as the copy these tests once had).
    typealias RNG = SplitMix64

    // The per-call searches as they ran before the tables (written out here as the reference).

    static func oldDLower(_ f: (Double) -> Double, _ df: (Double) -> Double, upper: Double) -> Double? {
        let index = Swift.max(0, Int(upper / 0.01)) + 1
        guard Double(index) * 0.01 <= 500 else { return nil }
        let U = Double(index) * 0.01
        let fU = f(U)
        func ok(_ d: Double) -> Bool { df(d) * (U - d) + f(d) <= fU }
        var l = -1.0, r = 0.0
        while !ok(l) { l *= 2; if l < -1e6 { return nil } }
        for _ in 0..<100 { let m = (l + r) / 2; if ok(m) { l = m } else { r = m } }
        return l
    }

    static func oldDUpper(_ f: (Double) -> Double, _ df: (Double) -> Double, lower: Double) -> Double? {
        let index = Swift.max(0, Int(-lower / 0.01)) + 1
        guard Double(index) * 0.01 <= 500 else { return nil }
        let L = -Double(index) * 0.01
        let fL = f(L)
        func ok(_ d: Double) -> Bool { df(d) * (L - d) + f(d) >= fL }
        var l = 0.0, r = 1.0
        while !ok(r) { r *= 2; if r > 1e6 { return nil } }
        for _ in 0..<100 { let m = (l + r) / 2; if ok(m) { r = m } else { l = m } }
        return r
    }

    static func oldBisect(bad: Double, good: Double, _ ok: (Double) -> Bool) -> Double {
        var bad = bad, good = good
        for _ in 0..<100 { let m = (bad + good) / 2; if ok(m) { good = m } else { bad = m } }
        return good
    }

    /// Far endpoints: random in [0, 600] (beyond the 500 grid end too), grid points exactly, the
    /// grid's end and tiny values.
    static func farEndpoints(_ rng: inout RNG, count: Int) -> [Double] {
        var xs: [Double] = [0, 1e-300, 0.005, 0.01, 0.02, 1, 2.5, 499.98, 499.99, 500, 500.01, 1e4]
        for _ in 0..<count { xs.append(Double.random(in: 0...600, using: &rng)) }
        for _ in 0..<count { xs.append(Double(Int.random(in: 0...50_000, using: &rng)) * 0.01) }
        for _ in 0..<count { xs.append(Double.random(in: 0...8, using: &rng)) }
        return xs
    }

    func testSShapedTablesEqualPerCallBisection() {
        var rng = RNG(seed: 11)
        let xs = Self.farEndpoints(&rng, count: 300)
        for (name, shape) in [("Sigmoid", Sigmoid.shape), ("Tanh", Tanh.shape), ("Erf", Erf.shape)] {
            for x in xs {
                let a = shape.dLower(upper: x), b = Self.oldDLower(shape.f, shape.df, upper: x)
                XCTAssertEqual(a?.bitPattern, b?.bitPattern, "\(name) dLower(upper: \(x)): \(String(describing: a)) vs \(String(describing: b))")
                let c = shape.dUpper(lower: -x), d = Self.oldDUpper(shape.f, shape.df, lower: -x)
                XCTAssertEqual(c?.bitPattern, d?.bitPattern, "\(name) dUpper(lower: \(-x))")
            }
            // The table is used: beyond the grid there is no tangent point, inside there is one.
            XCTAssertNil(shape.dLower(upper: 500.5))
            XCTAssertNil(shape.dLower(upper: 1e300))   // no Int overflow trap
            XCTAssertNotNil(shape.dLower(upper: 3))
        }
    }

    func testGeluTablesEqualPerCallBisection() {
        let s = 2.0.squareRoot(), f = { Gelu().apply($0) }, df = { Gelu().derivative($0, 0) }
        var rng = RNG(seed: 12)
        for x in Self.farEndpoints(&rng, count: 150) {
            // The old code's index expressions, on the same arguments.
            let U = s + 0.01 * Double(max(0, Int(((s + x) - s) / 0.01)) + 1)
            let lr = Self.oldBisect(bad: s, good: -s) { t in df(t) * (U - t) + f(t) <= f(U) }
            XCTAssertEqual(GeluRelaxation.dLowerRight(u: s + x).bitPattern, lr.bitPattern, "dLowerRight \(s + x)")
            let L = -s - 0.01 * Double(max(0, Int((-(-s - x) - s) / 0.01)) + 1)
            let ll = Self.oldBisect(bad: -s, good: s) { t in df(t) * (L - t) + f(t) <= f(L) }
            XCTAssertEqual(GeluRelaxation.dLowerLeft(l: -s - x).bitPattern, ll.bitPattern, "dLowerLeft \(-s - x)")
            // Upper tangents in the concave pieces: equal where the old search found a valid
            // point, NaN (no tangent) where it returned an invalid one.
            let L2 = s - 0.01 * Double(max(0, Int((s - (s - x)) / 0.01)) + 1)
            var good = 2 * s
            while !(df(good) * (L2 - good) + f(good) >= f(L2)) && good < 1e6 { good *= 2 }
            let okR = df(good) * (L2 - good) + f(good) >= f(L2)
            let ur = Self.oldBisect(bad: s, good: good) { t in df(t) * (L2 - t) + f(t) >= f(L2) }
            let newUR = GeluRelaxation.dUpperRight(l: s - x)
            if okR { XCTAssertEqual(newUR.bitPattern, ur.bitPattern, "dUpperRight \(s - x)") } else { XCTAssertTrue(newUR.isNaN) }
            let U2 = -s + 0.01 * Double(max(0, Int(((-s + x) + s) / 0.01)) + 1)
            var good2 = -2 * s
            while !(df(good2) * (U2 - good2) + f(good2) >= f(U2)) && good2 > -1e6 { good2 *= 2 }
            let okL = df(good2) * (U2 - good2) + f(good2) >= f(U2)
            let ul = Self.oldBisect(bad: -s, good: good2) { t in df(t) * (U2 - t) + f(t) >= f(U2) }
            let newUL = GeluRelaxation.dUpperLeft(u: -s + x)
            if okL { XCTAssertEqual(newUL.bitPattern, ul.bitPattern, "dUpperLeft \(-s + x)") } else { XCTAssertTrue(newUL.isNaN) }
        }
        XCTAssertFalse(GeluRelaxation.dLowerRight(u: 1e300).isNaN)   // past the table: computed directly, no trap
    }

    /// The tangent upper bound on [l, u] with l far left and u far right once used a tangent
    /// point the search had not validated; the relaxation must still bound GeLU.
    func testGeluFarUpperTangentIsValidOrConstant() {
        let g = Gelu()
        for (l, u) in [(-1e7, 2e6), (-3e6, 1.5e6), (-1e4, 3e4), (-50, 40)] {
            let r = g.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
            for i in 0...2000 {
                let x = l + (u - l) * Double(i) / 2000
                let y = g.apply(x)
                XCTAssertLessThanOrEqual(r.aL * x + r.bL, y + 1e-9 * max(1, abs(y)), "lower at \(x) on [\(l), \(u)]")
                XCTAssertGreaterThanOrEqual(r.aU * x + r.bU, y - 1e-9 * max(1, abs(y)), "upper at \(x) on [\(l), \(u)]")
            }
        }
    }

    func testConcurrentLookupsAreDeterministic() {
        let sig = Sigmoid()
        let make = { SShapedRelaxation(f: { sig.apply($0) }, df: { let s = sig.apply($0); return s * (1 - s) },
                                       d2f: { let s = sig.apply($0); return s * (1 - s) * (1 - 2 * s) }) }
        let sequential = make(), shared = make()
        var rng = RNG(seed: 13)
        let xs = (0..<4000).map { _ in Double.random(in: 0...499, using: &rng) }
        let expected = xs.map { sequential.dLower(upper: $0)! }
        let results = UnsafeMutableBufferPointer<Double>.allocate(capacity: xs.count)
        defer { results.deallocate() }
        // Eight workers over interleaved slices, all hitting the same unfilled chunks.
        DispatchQueue.concurrentPerform(iterations: 8) { w in
            for i in stride(from: w, to: xs.count, by: 8) { results[i] = shared.dLower(upper: xs[i])! }
        }
        for i in 0..<xs.count { XCTAssertEqual(results[i].bitPattern, expected[i].bitPattern) }
    }

    // MARK: - Parameter derivatives

    static func operators() -> [(String, any ElementwiseRelaxation)] {
        [("Sigmoid", Sigmoid()), ("Tanh", Tanh()), ("Erf", Erf()), ("Gelu", Gelu()), ("GeluTanh", Gelu(tanhApproximation: true)),
         ("Sin", Sin()), ("Cos", Cos()), ("Relu", Relu()), ("LeakyRelu0.01", LeakyRelu(alpha: 0.01)),
         ("LeakyRelu2", LeakyRelu(alpha: 2)), ("LeakyRelu-0.5", LeakyRelu(alpha: -0.5))]
    }

    func testAnalyticDerivativesMatchCentralDifferences() {
        var rng = RNG(seed: 14)
        var moving = 0
        for (name, op) in Self.operators() {
            for trial in 0..<400 {
                let c = Double.random(in: -5...5, using: &rng)
                let w = [0.01, 0.3, 1, 3, 8][trial % 5] * Double.random(in: 0.5...1.5, using: &rng)
                let l = c - w / 2, u = c + w / 2
                let pl = Double.random(in: 0.05...0.95, using: &rng), pu = Double.random(in: 0.05...0.95, using: &rng)
                let (rel, dl, du) = op.relaxationWithDerivatives(l: l, u: u, lowerParameter: pl, upperParameter: pu)
                XCTAssertEqual(rel, op.relaxation(l: l, u: u, lowerParameter: pl, upperParameter: pu), "\(name) [\(l), \(u)]")
                let h = 1e-5
                let lp = op.relaxation(l: l, u: u, lowerParameter: pl + h, upperParameter: pu)
                let lm = op.relaxation(l: l, u: u, lowerParameter: pl - h, upperParameter: pu)
                let up = op.relaxation(l: l, u: u, lowerParameter: pl, upperParameter: pu + h)
                let um = op.relaxation(l: l, u: u, lowerParameter: pl, upperParameter: pu - h)
                let numeric = [(lp.aL - lm.aL) / (2 * h), (lp.bL - lm.bL) / (2 * h), (up.aU - um.aU) / (2 * h), (up.bU - um.bU) / (2 * h)]
                let analytic = [dl.0, dl.1, du.0, du.1]
                for k in 0..<4 {
                    XCTAssertEqual(analytic[k], numeric[k], accuracy: 1e-5 * (1 + abs(numeric[k])),
                                   "\(name) [\(l), \(u)] pl \(pl) pu \(pu) component \(k): \(analytic) vs \(numeric)")
                }
                if analytic.contains(where: { $0 != 0 }) { moving += 1 }
            }
        }
        XCTAssertGreaterThan(moving, 1000, "most sampled relaxations have a moving tangent")
    }

    func testNoParameterMeansNoDerivative() {
        for (name, op) in Self.operators() {
            for (l, u) in [(-3.0, -1.0), (-1.0, 2.0), (0.5, 4.0), (-2.0, 0.1)] {
                let (rel, dl, du) = op.relaxationWithDerivatives(l: l, u: u, lowerParameter: nil, upperParameter: nil)
                XCTAssertEqual(rel, op.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil), name)
                XCTAssertEqual([dl.0, dl.1, du.0, du.1], [0, 0, 0, 0], "\(name) [\(l), \(u)]")
            }
        }
    }

    /// GeLU's default tangent across an inflection is the valid tangent of least area: no
    /// parameter value gives a lower line with a larger integral over [l, u] (or an upper line
    /// with a smaller one), and `defaultParameters` reproduces the default lines.
    func testGeluDefaultTangentHasLeastArea() {
        let g = Gelu()
        var rng = RNG(seed: 15)
        var checked = 0
        for _ in 0..<600 {
            let l = Double.random(in: -7...2, using: &rng), u = l + Double.random(in: 0.05...9, using: &rng)
            let d = g.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
            func area(_ a: Double, _ b: Double) -> Double { a * (u * u - l * l) / 2 + b * (u - l) }
            let (pl, pu) = g.defaultParameters(l: l, u: u)
            let viaParameters = g.relaxation(l: l, u: u, lowerParameter: pl, upperParameter: pu)
            XCTAssertEqual(viaParameters.aL, d.aL, accuracy: 1e-9, "[\(l), \(u)]")
            XCTAssertEqual(viaParameters.aU, d.aU, accuracy: 1e-9, "[\(l), \(u)]")
            for k in 0...20 {
                let p = Double(k) / 20
                let r = g.relaxation(l: l, u: u, lowerParameter: pl == nil ? nil : p, upperParameter: pu == nil ? nil : p)
                let tol = 1e-9 * (1 + abs(area(d.aL, d.bL)) + abs(area(d.aU, d.bU)))
                XCTAssertLessThanOrEqual(area(r.aL, r.bL), area(d.aL, d.bL) + tol, "lower [\(l), \(u)] p \(p)")
                XCTAssertGreaterThanOrEqual(area(r.aU, r.bU), area(d.aU, d.bU) - tol, "upper [\(l), \(u)] p \(p)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 10_000)
    }
}

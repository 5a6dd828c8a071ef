import Foundation
import CertusTensor

/// x^p for a constant exponent p: the function shared by Pow (a constant exponent) and
/// Reciprocal (p = -1), with its domain, exact interval image and linear relaxations.
///
/// Domain (where bounds exist; evaluation follows `pow` everywhere): every real for an integer
/// p >= 0; x != 0 for an integer p < 0 (a pole at 0); x >= 0 for a non-integer p > 0 (NaN
/// below 0); x > 0 for a non-integer p < 0. `domainViolation` names the interval that leaves it.
///
/// Shape: on x > 0, convex for p > 1 or p < 0 and concave for 0 < p < 1; on x < 0 (integer p
/// only) f(x) = (-1)^p |x|^p is convex for even p and concave for odd p; across 0 (integer
/// p >= 2) convex for even p, and for odd p concave on x <= 0 and convex on x >= 0 (an inflection
/// at 0). p = 0 is the constant 1 and p = 1 the identity (exact lines).
///
/// Relaxations: on a convex or concave piece `CurvedRelaxation` (chord on one side, the tangent
/// at t = l + q (u - l) on the other, q the side's parameter, default 0.5). Across the
/// inflection of an odd power (l < 0 < u) the upper line is the chord when it lies above f,
/// which holds exactly when l >= -c u, where c = c_p solves (p - 1) c^p + p c^(p-1) = 1 (the
/// tangent at d = -c u passes through (u, u^p); x^p is homogeneous, so c does not depend on u;
/// c_3 = 1/2); otherwise the tangent at d = l + q (dMax - l) with dMax = -c u (c rounded up),
/// which lies above f on (-inf, -d/c] and so on [l, u] for every q in [0, 1] (default q = 1: the
/// tangent through (u, f(u))). The lower line is its mirror image (f is odd: the upper line
/// a x + b of f on [-u, -l] gives the lower line a x - b on [l, u]), with the lower parameter.
package struct PowerFunction: Sendable {
    /// The exponent.
    package let p: Double
    /// c_p below and above (`inflectionConstant`) for an odd p >= 3, else NaN.
    let cBelow: Double, cAbove: Double
    package init(_ p: Double) {
        self.p = p
        let odd = p.isFinite && p == p.rounded() && Swift.abs(p) < 9.0e15 && Swift.abs(p.truncatingRemainder(dividingBy: 2)) == 1
        (cBelow, cAbove) = odd && p >= 3 ? Self.inflectionConstant(p) : (.nan, .nan)
    }

    /// Whether p is an integer (exactly representable as one).
    package var isInteger: Bool { p.isFinite && p == p.rounded() && Swift.abs(p) < 9.0e15 }
    var isOddInteger: Bool { isInteger && Swift.abs(p.truncatingRemainder(dividingBy: 2)) == 1 }

    @inline(__always)
    package func f(_ x: Double) -> Double { Foundation.pow(x, p) }
    /// f'(x) = p x^(p-1) (0 for p = 0, 1 for p = 1, whatever x is).
    package func df(_ x: Double) -> Double {
        if p == 0 { return 0 }
        if p == 1 { return 1 }
        return p * Foundation.pow(x, p - 1)
    }
    /// f''(x) = p (p - 1) x^(p-2).
    package func d2f(_ x: Double) -> Double {
        if p == 0 || p == 1 { return 0 }
        if p == 2 { return 2 }
        return p * (p - 1) * Foundation.pow(x, p - 2)
    }

    /// Why [l, u] leaves the domain (see the type's documentation), or nil.
    package func domainViolation(l: Double, u: Double) -> String? {
        guard p.isFinite else { return "x^p with the exponent \(p) has no bounds" }
        if p == 0 || (isInteger && p > 0) { return nil }
        if isInteger { return l <= 0 && u >= 0 ? "the interval [\(l), \(u)] holds 0, a pole of x^\(p)" : nil }
        if p > 0 { return l >= 0 ? nil : "the interval [\(l), \(u)] reaches below 0, where x^\(p) is undefined (the exponent is not an integer)" }
        return l > 0 ? nil : "the interval [\(l), \(u)] reaches 0 or below, where x^\(p) is undefined or infinite"
    }

    /// The exact image: f is monotone on each side of 0; across 0 an even power has its minimum
    /// 0 there. (-inf, +inf) outside the domain (never asked: IBP refuses first).
    package func image(l: Double, u: Double) -> (Double, Double) {
        guard domainViolation(l: l, u: u) == nil else { return (-.infinity, .infinity) }
        if p == 0 { return (1, 1) }
        let fl = f(l), fu = f(u)
        if l < 0 && u > 0 {
            return isOddInteger ? (fl, fu) : (0, Swift.max(fl, fu))
        }
        return (Swift.min(fl, fu), Swift.max(fl, fu))
    }

    /// The shape of f on [l, u] (inside the domain).
    enum Shape { case constant, identity, curved(CurvedRelaxation.Curvature), inflection }

    func shape(l: Double, u: Double) -> Shape {
        if p == 0 { return .constant }
        if p == 1 { return .identity }
        if l >= 0 { return .curved(p > 1 || p < 0 ? .convex : .concave) }
        if u <= 0 { return .curved(isOddInteger ? .concave : .convex) }
        return isOddInteger ? .inflection : .curved(.convex)
    }

    var function: CurvedRelaxation.Function {
        let s = self
        return CurvedRelaxation.Function(f: { s.f($0) }, df: { s.df($0) }, d2f: { s.d2f($0) })
    }

    /// c_p for an odd p >= 3 (see the type's documentation), as (below, above): bisection on
    /// (p - 1) c^p + p c^(p-1) = 1, widened by one part in 1e9 on each side. The tangent at
    /// d <= -above u is valid; the chord is used only when l >= -below u.
    package static func inflectionConstant(_ p: Double) -> (below: Double, above: Double) {
        func g(_ c: Double) -> Double { (p - 1) * Foundation.pow(c, p) + p * Foundation.pow(c, p - 1) }
        var lo = 0.0, hi = 1.0   // g(0) = 0 < 1 <= g(1) = 2p - 1
        for _ in 0..<200 {
            let m = 0.5 * (lo + hi)
            if g(m) >= 1 { hi = m } else { lo = m }
        }
        return (lo * (1 - 1e-9), hi * (1 + 1e-9))
    }

    /// The upper line of an odd power on [l, u] (l < 0 < u, finite) for parameter q (nil:
    /// default 1), with its tangent point and dt/dq when it is a tangent moved by q.
    func inflectionUpper(l: Double, u: Double, q: Double?) -> (line: (Double, Double), tangent: (t: Double, dt: Double)?, isTangent: Bool) {
        let c = (below: cBelow, above: cAbove)
        if l >= -c.below * u {
            let fl = f(l), s = (f(u) - fl) / (u - l)
            return ((s, fl - s * l), nil, false)
        }
        let dMax = -c.above * u
        var d = dMax, dt = 0.0
        if dMax > l {
            let w = q ?? 1
            d = l + w * (dMax - l); dt = dMax - l
        }
        let k = df(d)
        return ((k, f(d) - k * d), q == nil ? nil : (d, dt), true)
    }

    /// The relaxation and its parameter derivatives on [l, u] (see the type's documentation).
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        guard domainViolation(l: l, u: u) == nil else { return (.constant(-.infinity, .infinity), (0, 0), (0, 0)) }
        let img = image(l: l, u: u)
        switch shape(l: l, u: u) {
        case .constant: return (.line(0, 1), (0, 0), (0, 0))
        case .identity: return (.line(1, 0), (0, 0), (0, 0))
        case .curved(let curvature):
            // x^q with 0 < q < 1 has an infinite slope at 0: keep the tangent point off it.
            let floor = l == 0 && p < 1 ? 1e-9 * u : -Double.infinity
            return CurvedRelaxation.relaxation(function, image: img, curvature: curvature, l: l, u: u,
                                               lowerParameter: lowerParameter, upperParameter: upperParameter, tangentFloor: floor)
        case .inflection:
            guard CurvedRelaxation.hasLines(l, u) else { return (.constant(img.0, img.1), (0, 0), (0, 0)) }
            let pl = unitParameter(lowerParameter), pu = unitParameter(upperParameter)
            let up = inflectionUpper(l: l, u: u, q: pu)
            let mirrored = inflectionUpper(l: -u, u: -l, q: pl)
            var lines = RelaxationLines(lo: (mirrored.line.0, -mirrored.line.1), hi: up.line)
            lines.hiTangent = up.tangent
            if let t = mirrored.tangent { lines.loTangent = (-t.t, -t.dt) }
            let s = self
            return CurvedRelaxation.finish(lines, l: l, u: u, image: img, d2f: { s.d2f($0) })
        }
    }

    /// The parameters that reproduce the default relaxation.
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard domainViolation(l: l, u: u) == nil else { return (nil, nil) }
        switch shape(l: l, u: u) {
        case .constant, .identity: return (nil, nil)
        case .curved(let c): return CurvedRelaxation.defaultParameters(curvature: c, l: l, u: u)
        case .inflection:
            guard CurvedRelaxation.hasLines(l, u) else { return (nil, nil) }
            let c = (below: cBelow, above: cAbove)
            // A side has a parameter when it is a tangent whose point can move (dMax inside).
            let upper: Double? = l >= -c.below * u || -c.above * u <= l ? nil : 1
            let lower: Double? = -u >= -c.below * -l || -c.above * -l <= -u ? nil : 1
            return (lower, upper)
        }
    }

    /// The midpoint; under `.optimized` the point minimising the children's looseness
    /// (`CurvedRelaxation.branchingPoint`), and across the inflection of an odd power 0 when
    /// that is looser than neither (both children are then convex or concave).
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard domainViolation(l: l, u: u) == nil, p != 0, p != 1 else { return nil }
        let relax = { (a: Double, b: Double) in self.relaxation(l: a, u: b, lowerParameter: nil, upperParameter: nil).relaxation }
        guard let best = CurvedRelaxation.branchingPoint(l: l, u: u, strategy: strategy, relax: relax) else { return nil }
        if strategy == .optimized, isOddInteger, l < 0, u > 0, CurvedRelaxation.midpoint(l: l, u: 0) != nil,
           CurvedRelaxation.midpoint(l: 0, u: u) != nil {
            func cost(_ q: Double) -> Double {
                BranchingPoints.looseness(relax(l, q), l: l, u: q) + BranchingPoints.looseness(relax(q, u), l: q, u: u)
            }
            if cost(0) <= cost(best) { return 0 }
        }
        return best
    }

    /// The range of f'(x) = p x^(p-1) over [l, u]: f' is monotone on each side of 0 and 0 at 0
    /// when p > 1, so the ends (and 0 when inside) bound it; padded.
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        guard domainViolation(l: l, u: u) == nil else { return (-.infinity, .infinity) }
        if p == 0 || p == 1 { return (p, p) }
        var v = [df(l), df(u)]
        if l < 0 && u > 0 { v.append(0) }
        if v.contains(where: \.isNaN) { return (-.infinity, .infinity) }
        return paddedRange(v.min()!, v.max()!)
    }
}

/// x^y (ONNX Pow) with a constant exponent y, numpy-broadcasting (opset 7 on; older opsets'
/// `broadcast`/`axis` attributes are refused); the base x is computed. Evaluation is
/// elementwise `pow` with broadcasting (NaN for a negative base and a non-integer exponent,
/// +-inf at a pole, as in onnxruntime).
///
/// Bounds (`PowerFunction`): IBP elementwise for any constant exponent tensor; a domain
/// violation (a negative base interval under a non-integer exponent, an interval holding 0
/// under a negative one) is refused naming the node. CROWN, alpha-CROWN and branch and bound
/// need one exponent for every element (`uniform`: all entries of y equal and the output has
/// x's shape); otherwise the node is refused by them with the reason. A computed exponent
/// (x^y with y a variable, or b^y) is refused at load.
package struct Pow: ElementwiseRelaxation {
    package static let opType = "Pow"
    /// The exponent tensor y as in the model.
    package let exponents: Tensor
    /// x^p for the exponent (y's first entry; the only one when `uniform`).
    package let power: PowerFunction
    /// Every entry of y is the same finite number and broadcasting keeps x's shape: the
    /// operator is the elementwise x^p the relaxation protocol speaks about.
    package let uniform: Bool

    /// x^p with a scalar exponent.
    package init(exponent p: Double) {
        exponents = Tensor(scalar: p)
        power = PowerFunction(p)
        uniform = p.isFinite
    }

    init(exponents: Tensor, baseShape: [Int]) {
        self.exponents = exponents
        let first = exponents.data.first ?? .nan
        power = PowerFunction(first)
        uniform = first.isFinite && exponents.data.allSatisfy { $0 == first }
            && Broadcast.shape(baseShape, exponents.shape) == baseShape
    }

    package static func make(_ node: NodeContext) throws -> Pow {
        guard node.inputShapes.count == 2 else { throw node.error("Pow takes 2 inputs, got \(node.inputShapes.count)") }
        if node.opset < 7, case .int(1)? = node.attributes["broadcast"], node.attributes["axis"] != nil {
            throw node.unsupported("legacy broadcast with an 'axis' attribute (opset < 7) is not supported")
        }
        guard node.constantInputs.count > 1, let y = node.constantInputs[1] else {
            let base = node.constantInputs.first.flatMap { $0 } == nil ? "a computed base with a computed exponent" : "a constant base with a computed exponent"
            throw node.unsupported("\(base) is not supported: the exponent (input 1) must be a constant (x^p with p fixed is the only power Certus can bound)")
        }
        guard !y.data.isEmpty else { throw node.error("the exponent (input 1) is empty") }
        return Pow(exponents: y, baseShape: node.inputShapes[0])
    }

    package static var representatives: [Pow] {
        [2, 3, 4, 5, 7, 0.5, 0.25, 1.5, -1, -2, -3, -0.5, 0, 1].map { Pow(exponent: $0) }
    }

    package func outputShape(_ inputShapes: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(inputShapes, 1...2, Self.opType)
        return try ShapeCheck.broadcast(inputShapes[0], inputShapes.count > 1 ? inputShapes[1] : exponents.shape)
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        try Broadcast.apply(inputs[0], inputs.count > 1 ? inputs[1] : exponents, Foundation.pow)
    }

    /// d/dx = y x^(y-1) (summed over broadcast dimensions); no gradient for the (constant) exponent.
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let x = inputs[0], y = inputs.count > 1 ? inputs[1] : exponents
        let mx = Broadcast.indexMap(from: x.shape, to: output.shape), my = Broadcast.indexMap(from: y.shape, to: output.shape)
        var gx = Tensor(shape: x.shape, repeating: 0)
        var functions: [Double: PowerFunction] = [:]
        for k in 0..<gradient.count {
            let e = y.data[my[k]]
            let f = functions[e] ?? PowerFunction(e)
            functions[e] = f
            gx.data[mx[k]] += gradient.data[k] * f.df(x.data[mx[k]])
        }
        return inputs.count > 1 ? [gx, nil] : [gx]
    }

    /// IBP elementwise with each element's own exponent (`PowerFunction.image`).
    /// - Throws: `BoundError` when an element's interval leaves its exponent's domain.
    package func interval(_ inputs: [IntervalTensor]) throws -> IntervalTensor {
        let x = inputs[0], y = inputs.count > 1 ? inputs[1].lower : exponents
        let outShape = try ShapeCheck.broadcast(x.shape, y.shape)
        let mx = Broadcast.indexMap(from: x.shape, to: outShape), my = Broadcast.indexMap(from: y.shape, to: outShape)
        var lo = Tensor(shape: outShape, repeating: 0), hi = lo
        var functions: [Double: PowerFunction] = [:]
        for k in 0..<lo.count {
            let e = y.data[my[k]]
            let f = functions[e] ?? PowerFunction(e)
            functions[e] = f
            let l = x.lower.data[mx[k]], u = x.upper.data[mx[k]]
            let (a, b) = (l.isNaN ? -.infinity : l, u.isNaN ? .infinity : u)
            if let why = f.domainViolation(l: a, u: b) { throw BoundError(why) }
            let (ya, yb) = f.image(l: a, u: b)
            lo.data[k] = ya.isNaN ? -.infinity : ya; hi.data[k] = yb.isNaN ? .infinity : yb
        }
        return IntervalTensor(lower: lo, upper: hi)
    }

    /// Elementwise (relaxation per neuron) only with a constant `uniform` exponent.
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        if constantInputs.count > 1 && !constantInputs[1] {
            return .unsupported("Pow with a computed exponent has no relaxation")
        }
        guard uniform else {
            return .unsupported("Pow's exponent differs between elements (or broadcasts the base to a larger shape): IBP only, no elementwise relaxation")
        }
        return .elementwise
    }

    package func apply(_ x: Double) -> Double { power.f(x) }
    package func derivative(_ x: Double, _ y: Double) -> Double { power.df(x) }
    package func domainViolation(l: Double, u: Double) -> String? { power.domainViolation(l: l, u: u) }
    package func image(l: Double, u: Double) -> (Double, Double) { power.image(l: l, u: u) }
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        power.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter).relaxation
    }
    /// Analytic (`PowerFunction.relaxation`).
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        power.relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) { power.defaultParameters(l: l, u: u) }
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        power.branchingPoint(l: l, u: u, strategy: strategy)
    }
}

extension Pow: ClarkeDerivative {
    /// (x^p)' = p x^(p-1) (`PowerFunction.derivativeRange`).
    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) { power.derivativeRange(l: l, u: u) }
    package func secondDerivative(_ x: Double) -> Double { power.d2f(x) }
}

extension Pow {
    /// x^p in float32 (onnxruntime: x * x for p = 2, std::pow otherwise; glibc's powf is within
    /// 1 ulp, products of a few factors within a few roundings): the transcendental allowance,
    /// 4 ulps of the output plus 2^-22 absolute (`Float32Rounding.transcendental`).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .transcendental }
}

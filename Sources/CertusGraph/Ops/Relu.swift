import Foundation
import CertusTensor

/// max(x, 0) (ONNX Relu), elementwise; any shape. The kink at 0 is its only branching point, and
/// splitting there makes both children exact (beta-CROWN's ReLU split, the special case of the
/// general split).
package struct Relu: KinkAtZeroActivation, AttributeFree {
    package static let opType = "Relu"
    package init() {}
    /// max(x, 0); NaN stays NaN, as in onnxruntime.
    package func apply(_ x: Double) -> Double { x < 0 ? 0 : x }
    package func derivative(_ x: Double, _ y: Double) -> Double { x > 0 ? 1 : 0 }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }
    package func image(l: Double, u: Double) -> (Double, Double) { MonotoneImage.increasing(l, u, apply) }
    /// Triangle upper bound; lower slope alpha in [0, 1] (default: 1 when u > -l, else 0).
    /// With an infinite end the triangle's limit: slope 1 through (l, 0) when u = +inf, the
    /// constant u when l = -inf, and no finite upper line (+inf) when both are infinite.
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        if l >= 0 { return .line(1, 0) }
        if u <= 0 { return .line(0, 0) }
        let aL = unitParameter(lowerParameter) ?? (u > -l ? 1 : 0)
        return NeuronRelaxation(aL: aL, bL: 0, aU: Self.chord(l, u).0, bU: Self.chord(l, u).1)
    }
    /// The triangle's upper line over [l, u] (l < 0 < u), slope and intercept.
    static func chord(_ l: Double, _ u: Double) -> (Double, Double) {
        if l.isFinite && u.isFinite { let a = u / (u - l); return (a, -a * l) }
        if l.isFinite { return (1, -l) }
        if u.isFinite { return (0, u) }
        return (0, .infinity)
    }
    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        l < 0 && u > 0 ? (u > -l ? 1 : 0, nil) : (nil, nil)
    }
    /// d aL / d alpha = 1 on an unstable neuron; nothing else moves.
    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let rel = relaxation(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter)
        return (rel, l < 0 && u > 0 && lowerParameter != nil ? (1, 0) : (0, 0), (0, 0))
    }
    /// Slopes 0 and 1 (`KinkAtZeroActivation`): the LP encoding is the triangle y >= 0, y >= z,
    /// (u - l) y <= u (z - l) (Ehlers 2017) with Tjeng's y <= z - l (1 - a), y <= u a in exact
    /// mode; splitting at 0 is beta-CROWN's ReLU split.
    package var leftSlope: Double { 0 }
    package var rightSlope: Double { 1 }
    /// The lower parameter is the lower slope (see `relaxation`): the engine's fast paths apply.
    package var isReluShaped: Bool { true }
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Relu {
    /// max(x, 0) is exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}

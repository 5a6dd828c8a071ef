import Foundation
import CertusTensor

/// ONNX `Min` (evaluation, IBP and gradient shared with Max: `ElementwiseExtremum`). With a
/// constant c: min(x, c) = -max(-x, -c), so the relaxation is Max's on [-u, -l] negated, its
/// lower and upper lines and parameters exchanged: the chord through (l, l) and (u, c) below,
/// a line through (c, c) with slope q in [0, 1] above (q the upper parameter).
package struct Min: ElementwiseExtremum {
    package static let opType = "Min"
    package static let sign = -1.0
    package let constant: Double?
    package init(constant: Double? = nil) { self.constant = constant }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        guard let c = constant else { return .constant(-.infinity, .infinity) }
        let r = Max(constant: -c).relaxation(l: -u, u: -l, lowerParameter: upperParameter, upperParameter: lowerParameter)
        // max(-x, -c) in [aL (-x) + bL, aU (-x) + bU], so min(x, c) in [aU x - bU, aL x - bL].
        return NeuronRelaxation(aL: r.aU, bL: -r.bU, aU: r.aL, bU: -r.bL)
    }

    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard let c = constant else { return (nil, nil) }
        let d = Max(constant: -c).defaultParameters(l: -u, u: -l)
        return (d.upper, d.lower)
    }
}

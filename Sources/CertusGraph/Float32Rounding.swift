import Foundation

/// How far an operator's float32 evaluation may lie from its exact (real) result on the same
/// float32 inputs, per output element (`Operator.float32Rounding`): the error model of
/// `--semantics float32`. The bound engine turns it into an error bound e_j >= |fl(y_j) - y_j|
/// from the node's input intervals (`bound(termMagnitude:outputMagnitude:)`), widens IBP by
/// it and subtracts |lambda_j| e_j in every backward (CROWN) pass, which is CROWN on the
/// network with one extra bounded input delta_j in [-e_j, e_j] per node output.
///
/// Constants: unit roundoff u = 2^-24 (float32, round to nearest); gamma_m = m u / (1 - m u)
/// (Higham, "Accuracy and Stability of Numerical Algorithms", 2002, Lemma 3.1 and eq. 3.5).
package enum Float32Rounding: Sendable, Equatable {
    /// The float32 result is the exact result (ReLU, Max, copies and reshapes, selections).
    case exact
    /// Each output is a sum of products and scalings in which every term passes through at most
    /// `roundings` float32 roundings (one per multiplication, addition or scaling on its path),
    /// in any order of evaluation: |fl(y) - y| <= gamma_m sum_k |t_k| (Higham, eq. 3.5; valid for
    /// any summation order, and with fused multiply-adds, which round less). The engine adds
    /// `fusionSlack` to m and an underflow term of m 2^-150 per output.
    case sums(roundings: Int)
    /// An elementwise function whose float32 implementation is within `ulps` float32 ulps of the
    /// largest output magnitude plus `absolute`: an allowance, since ONNX does not specify the
    /// accuracy of transcendental functions (onnxruntime's MLAS uses polynomial approximations).
    case ulps(Double, absolute: Double)
    /// An elementwise function evaluated as a short float32 formula around an inaccurate kernel
    /// (GeLU as x/2 (1 + erf(x / sqrt 2)): the kernel's absolute error is multiplied by x):
    /// within `output` float32 ulps of the largest output magnitude, plus `input` float32 ulps
    /// of the largest input magnitude, plus `absolute`.
    case ulpsOfInputAndOutput(output: Double, input: Double, absolute: Double)
    /// The operator bounds its float32 error itself from its inputs' intervals
    /// (`Float32InputErrorBound`): for kernels whose error is no multiple of one magnitude
    /// (LayerNormalization's grows with max|x|^3 / epsilon^1.5). For an operator the engine
    /// decomposes, the inputs are the operator's own (`BoundEngine.float32Models`).
    case fromInputs
    /// No float32 error model: `--semantics float32` refuses to bound through this operator
    /// (the answer is `unknown`), with the reason given.
    case unmodelled(String)

    /// float32's unit roundoff (round to nearest): 2^-24.
    package static let unitRoundoff = 0x1p-24
    /// Roundings added to every `sums` model: onnxruntime's graph optimisations fold constant
    /// factors into weights in float32 (Conv + BatchNormalization, MatMul + Mul by a scalar,
    /// MatMul + Add into Gemm), which puts each term through a few more roundings than the node
    /// as written; 8 covers a fold of up to 8 roundings per term.
    package static let fusionSlack = 8

    /// gamma_m = m u / (1 - m u), rounded up (Double rounding of this formula is far below the
    /// 1e-9 relative factor applied); infinite when m u >= 1.
    package static func gamma(_ m: Int) -> Double {
        let mu = Double(m) * unitRoundoff
        guard mu < 0.5 else { return .infinity }
        return mu / (1 - mu) * (1 + 1e-9)
    }

    /// The bound e >= |fl(y) - y| for one output element, given the sum of the magnitudes of its
    /// terms (`termMagnitude`: sum_k |t_k| over the node's input intervals, for `sums`) and the
    /// largest magnitude of its exact value (`outputMagnitude`, for `ulps`); 0 for `exact`, nil
    /// for `unmodelled`. Infinite when a magnitude reaches float32's range (the float32
    /// evaluation may overflow there, which the model does not cover).
    /// `inputMagnitude`: the largest magnitude of the (first) input, for `ulpsOfInputAndOutput`.
    package func bound(termMagnitude: Double, outputMagnitude: Double, inputMagnitude: Double = 0) -> Double? {
        let limit = Double(Float.greatestFiniteMagnitude) / 2
        switch self {
        case .exact:
            return 0
        case .sums(let m):
            guard termMagnitude.isFinite, termMagnitude < limit else { return .infinity }
            let rounds = m + Float32Rounding.fusionSlack
            return Float32Rounding.gamma(rounds) * termMagnitude + Double(rounds) * 0x1p-150
        case .ulps(let k, let absolute):
            guard outputMagnitude.isFinite, outputMagnitude < limit else { return .infinity }
            return (k * 0x1p-23 * outputMagnitude + absolute) * (1 + 1e-9)
        case .ulpsOfInputAndOutput(let k, let kIn, let absolute):
            guard outputMagnitude.isFinite, outputMagnitude < limit, inputMagnitude.isFinite, inputMagnitude < limit else { return .infinity }
            return (k * 0x1p-23 * outputMagnitude + kIn * 0x1p-23 * inputMagnitude + absolute) * (1 + 1e-9)
        case .unmodelled, .fromInputs:
            return nil
        }
    }

    /// The allowance of smooth activations (Sigmoid, Tanh): 4 float32 ulps of the largest
    /// output magnitude plus 2^-22 (about 2.4e-7) absolute, which covers approximations that
    /// are accurate in absolute rather than relative terms near 0 (MLAS's logistic and tanh
    /// clamp their inputs at about +-18 and +-9).
    package static let smoothActivation = Float32Rounding.ulps(4, absolute: 0x1p-22)

    /// The allowance of other transcendental kernels whose accuracy ONNX leaves open (Erf, Log,
    /// Exp near 0): the same 4 ulps plus 2^-22 absolute. onnxruntime's expf, logf and erff
    /// (MLAS and Eigen polynomial approximations) are not correctly rounded; their documented
    /// and tested errors are a few ulps, and this allowance is generous against them
    /// (docs/reliability.md; sampled against Swift's Float functions in
    /// `Float32OperatorRoundingTests`).
    package static let transcendental = Float32Rounding.ulps(4, absolute: 0x1p-22)

    /// A correctly rounded float32 operation (IEEE 754 requires it of division and square root):
    /// half an ulp, counted as one, plus the smallest subnormal for underflow.
    package static let correctlyRounded = Float32Rounding.ulps(1, absolute: 0x1p-149)
}

/// An operator that bounds its own float32 error (`Float32Rounding.fromInputs`).
package protocol Float32InputErrorBound {
    /// Per output element, a bound e >= |fl(y) - y| of the float32 evaluation on any float32
    /// inputs within `inputs` (constants as degenerate intervals); +inf where none holds (the
    /// kernel may give NaN or overflow there).
    func float32ErrorBound(_ inputs: [IntervalTensor]) -> [Double]
}

extension Operator {
    /// Default: no float32 error model (`--semantics float32` answers `unknown` through it).
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding {
        .unmodelled("\(Self.opType) has no float32 error model")
    }
}

extension DataMovement {
    /// Copies and relabellings are exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}

extension IndexMapping {
    /// Copies (Expand, Pad with a constant, Slice, Split, Tile) are exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}

import Foundation
import CertusTensor

/// An activation made of two linear pieces through the origin, slope `leftSlope` for x <= 0 and
/// `rightSlope` for x >= 0 (ReLU: 0 and 1; LeakyReLU: alpha and 1; Abs: -1 and 1). The type
/// gives its evaluation and its linear relaxation (each has its own parameterisation); this
/// extension gives everything that depends on the two slopes alone:
/// - the LP/MILP encoding (`PiecewiseLinearEncoding.kinkAtZero`: Ehlers' triangle, with Tjeng's
///   big-M rows in exact mode);
/// - branching at the kink, which makes both children exact (beta-CROWN's ReLU split is this
///   case), for both branching-point strategies; equal slopes (LeakyReLU with alpha = 1, the
///   identity) have no kink and are never split;
/// - the gradient node (`ClarkeDerivative`): the step from `leftSlope` to `rightSlope` with the
///   Clarke set between them at 0 (`kinkRange`, `stepRelaxation`), f'' = 0, and the step smoothed
///   by a logistic for searches.
package protocol KinkAtZeroActivation: ElementwiseRelaxation, ClarkeDerivative {
    /// f'(x) for x < 0.
    var leftSlope: Double { get }
    /// f'(x) for x > 0.
    var rightSlope: Double { get }
}

extension KinkAtZeroActivation {
    package var isPiecewiseLinear: Bool { true }
    package func piecewiseLinearEncoding(l: Double, u: Double, mode: PiecewiseLinearEncoding.Mode) -> PiecewiseLinearEncoding? {
        .kinkAtZero(leftSlope: leftSlope, rightSlope: rightSlope, l: l, u: u, mode: mode)
    }
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        l < 0 && u > 0 && leftSlope != rightSlope ? 0 : nil
    }
    /// The kink at 0.
    package func crossesShapeChange(l: Double, u: Double) -> Bool { l < 0 && 0 < u }

    package func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double) {
        kinkRange(l, u, left: leftSlope, right: rightSlope)
    }
    package func derivativeRelaxation(l: Double, u: Double) -> NeuronRelaxation? {
        l < 0 && u > 0 ? stepRelaxation(l: l, u: u, left: leftSlope, right: rightSlope) : nil
    }
    package func secondDerivative(_ x: Double) -> Double { 0 }
    package func smoothedDerivative(_ x: Double, temperature t: Double) -> Double {
        leftSlope + (rightSlope - leftSlope) * smoothStep(x, t)
    }
}

import Foundation

/// Which bound to compute.
public enum BoundMethod: String, Sendable, CaseIterable {
    /// Interval bound propagation: cheap and loose.
    case ibp
    /// Backward linear relaxation (CROWN) with CROWN intermediate bounds, intersected with IBP.
    case crown
    /// CROWN with relaxation parameters optimised by projected Adam (alpha-CROWN).
    case alphaCrown = "alpha-crown"
}

/// Every knob of the bound engine, with its default and why.
public struct BoundSettings: Sendable {
    /// The method (default CROWN: the best bound per unit of time on small nets).
    public var method: BoundMethod = .crown
    /// Adam iterations for the spec rows under alpha-CROWN (the reference runs 100 with early
    /// stopping; fewer fall short of it on the zoo).
    public var alphaIterations: Int = 100
    /// Adam iterations for each intermediate layer's bounds under alpha-CROWN. Tight
    /// intermediate bounds are what makes alpha-CROWN beat CROWN on deep nets; on ACAS Xu 1_1
    /// prop_1, 10 / 30 / 50 iterations give -210 / -177 / -172 (reference -173).
    public var alphaIntermediateIterations: Int = 50
    /// Adam step size on the normalised parameters in [0, 1]. The reference uses 0.1 on raw
    /// slopes and tangent points; 0.2 on normalised ones reaches its bounds on the zoo.
    public var learningRate: Double = 0.2
    /// Multiplicative step-size decay per iteration (reference: 0.98).
    public var learningRateDecay: Double = 0.98
    /// Stop a row group early after this many iterations without improvement (reference: 10;
    /// ReLU slopes move in plateaus, 20 avoids stopping on one).
    public var earlyStopPatience: Int = 20
    /// Intersect CROWN intermediate bounds with IBP computed from the tightened inputs
    /// (never looser, and a guard against numerical drift).
    public var intersectWithIBP: Bool = true
    /// Reproduce the reference implementation's intermediate bounds (auto_LiRPA CROWN): neurons
    /// are chosen for re-bounding by a plain IBP pass, keep that pass's bounds otherwise, and no
    /// intersection is taken. Looser; for comparisons only (default false).
    public var referenceCompatible: Bool = false
    /// Stop optimising at this time (bounds computed so far stay sound).
    public var deadline: Date? = nil

    public init(method: BoundMethod = .crown) {
        self.method = method
    }
}

import Foundation
import CertusTensor
import CertusGraph

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
    /// prop_1, 10 / 30 / 50 iterations give -210 / -177 / -172 (reference -173); 65 is what
    /// mnist-net_256x6 needs to match the reference (50: -2813.0, 65: -2810.9, ref -2811.1).
    public var alphaIntermediateIterations: Int = 65
    /// Adam step size on the normalised parameters in [0, 1]. The reference uses 0.1 on raw
    /// slopes and tangent points; 0.2 on normalised ones reaches its bounds on the zoo.
    public var learningRate: Double = 0.2
    /// Adam step size of beta-CROWN's split multipliers (unbounded, so an absolute step; the
    /// reference implementation uses 0.05).
    public var betaLearningRate: Double = 0.05
    /// Multiplicative step-size decay per iteration (reference: 0.98).
    public var learningRateDecay: Double = 0.98
    /// Stop a row group early after this many iterations without improvement (reference: 10;
    /// ReLU slopes move in plateaus, 20 avoids stopping on one).
    public var earlyStopPatience: Int = 20
    /// Freeze one row of an alpha-CROWN optimisation once its bound has not gained more than
    /// `rowTolerance` x (1 + |bound|) for this many iterations (0: never). Rows are independent
    /// problems, so frozen rows are dropped from the working set and cost nothing. Looser
    /// settings (8 iterations, 1e-3) lose up to 2% of the bound on mnist-net_256x4/6.
    public var rowPatience: Int = 20
    /// Relative gain below which an iteration does not count as progress for `rowPatience`.
    public var rowTolerance: Double = 1e-5
    /// Run alpha-CROWN's parameter search in single precision where the cone is a chain of
    /// dense layers and ReLUs (twice the speed); the parameters found are evaluated in Double,
    /// and only that value is reported, so soundness does not depend on this setting.
    public var floatSearch: Bool = true
    /// With known (root) bounds given, keep them for every layer instead of re-bounding the
    /// layers after the first split neuron (beta-CROWN's branch and bound: the split constraints
    /// enter the final bound through their multipliers instead). Much cheaper per domain.
    public var reuseKnownBounds: Bool = false
    /// Compute CROWN intermediate bounds on the chain's own weights when the network is one
    /// chain of dense layers and ReLUs (`chainIntermediateBounds`; same bounds, less overhead).
    public var chainFastPath: Bool = true
    /// Threads for alpha-CROWN's row groups (rows are independent problems). Default: the
    /// cores this process may run on (its affinity mask), at most 8;
    /// BLAS itself runs on one thread meanwhile (restored afterwards).
    public var threads: Int = min(8, max(1, BLAS.usableProcessors))
    /// Rows per thread below which alpha-CROWN stays on one thread (thread start-up and the
    /// smaller BLAS products cost more than they save).
    public var minimumRowsPerThread: Int = 16
    /// CROWN passes split their rows over threads only when rows x weights in the cone reach
    /// this (a thread costs tens of microseconds; ACAS Xu's passes are cheaper than that).
    public var parallelWork: Int = 4_000_000
    /// Intersect CROWN intermediate bounds with IBP computed from the tightened inputs
    /// (never looser, and a guard against numerical drift).
    public var intersectWithIBP: Bool = true
    /// Reproduce the reference implementation's intermediate bounds (auto_LiRPA CROWN): neurons
    /// are chosen for re-bounding by a plain IBP pass, keep that pass's bounds otherwise, and no
    /// intersection is taken. Looser; for comparisons only (default false).
    public var referenceCompatible: Bool = false
    /// Branch and bound: also evaluate the relaxed network at each spec row's CROWN minimiser
    /// and report every splittable node's input there (`DomainBounds.NeuronInfo.relaxedInput`,
    /// what BBPS's estimate needs). One forward pass per domain. Default false.
    public var relaxedValues: Bool = false
    /// Stop optimising at this time (bounds computed so far stay sound).
    public var deadline: Date? = nil
    /// Abandon the computation at this time: the passes check it between nodes and between
    /// pieces of rows, and throw instead of returning a bound (a verifier then answers
    /// `timeout`). Unlike `deadline`, which only ends the parameter search early, this bounds
    /// the time of a single CROWN pass over a wide graph. nil (default): never.
    public var stopBy: Date? = nil
    /// Polled with `stopBy` (nil: never): when it returns true the computation is abandoned in
    /// the same way, so that a cancellation (a signal, a cancelled task) that arrives during a
    /// pass stops it at its next check instead of at `stopBy`.
    package var stopRequested: (@Sendable () -> Bool)? = nil

    /// Throws when `stopBy` has passed or `stopRequested` returns true.
    package func checkStop() throws {
        if let t = stopBy, Date() >= t { throw BoundError("the time limit was reached before the bound was complete") }
        if let s = stopRequested, s() { throw BoundError("the computation was stopped before the bound was complete") }
    }

    /// Settings for `method` with every other knob at its default.
    public init(method: BoundMethod = .crown) {
        self.method = method
    }
}

import Foundation
import CertusTensor

/// An activation whose Clarke generalised derivative has a known range on every interval: what
/// its gradient node (`ActivationDerivative`) needs to be bounded. (Shi et al., NeurIPS 2022,
/// bound the Jacobian graph with each activation's derivative relaxed as a function of its own.)
package protocol ClarkeDerivative: ElementwiseUnary {
    /// [min, max] of the Clarke generalised derivative of the activation over [l, u]
    /// (l <= u, finite): exact up to a small outward pad, never narrower. At a kink the Clarke
    /// set is the interval between the one-sided derivatives (ReLU at 0: [0, 1]).
    func derivativeRange(l: Double, u: Double) -> (lower: Double, upper: Double)
    /// A linear relaxation of the Clarke derivative on [l, u] of the activation's own (sound
    /// for every element of the Clarke set), or nil for the generic one built from
    /// `derivativeRange` (`ActivationDerivative.relaxation`). Default nil.
    func derivativeRelaxation(l: Double, u: Double) -> NeuronRelaxation?
    /// f''(x) where f is twice differentiable (0 on the linear pieces of ReLU, LeakyReLU and
    /// Abs; at a kink, 0 as well: the gradient node's own gradient, used by attacks on the
    /// Jacobian graph, never by a bound).
    func secondDerivative(_ x: Double) -> Double
    /// A smooth stand-in for f'(x) at temperature t > 0 (a kink's step replaced by a logistic
    /// of width t; smooth activations return f'(x) itself). Used only to steer searches for
    /// large gradient norms (`Lipschitz`'s attained lower bound), never by a bound: on
    /// piecewise-linear networks the true gradient is piecewise constant and gives an ascent
    /// no direction.
    func smoothedDerivative(_ x: Double, temperature t: Double) -> Double
}

extension ClarkeDerivative {
    package func derivativeRelaxation(l: Double, u: Double) -> NeuronRelaxation? { nil }
    package func smoothedDerivative(_ x: Double, temperature t: Double) -> Double { derivative(x, apply(x)) }
}

/// The logistic 1 / (1 + e^(-x/t)), the smoothed step at 0 of width t.
@inline(__always)
func smoothStep(_ x: Double, _ t: Double) -> Double { 1 / (1 + exp(-x / t)) }

/// The derivative range of a function with one kink at 0 (slope `left` below, `right` above)
/// over [l, u]. An interval that only touches the kink at one end (l = 0 < u, or l < 0 = u) takes
/// the slope of its inside: such intervals come from a branch-and-bound split at the kink (the
/// other child holds the other slope), and where they arise unsplit the point z = 0 adds nothing
/// to the supremum of the gradient norm over the points where the network is differentiable
/// (z >= 0 near such a point means either z > 0 there, or z constant, so that f'(z) multiplies a
/// zero gradient). That supremum is the Lipschitz constant of f on the (convex) region, which is
/// what the Jacobian graph bounds. A degenerate interval l = u = 0 keeps the whole Clarke set.
@inline(__always)
func kinkRange(_ l: Double, _ u: Double, left: Double, right: Double) -> (lower: Double, upper: Double) {
    if l >= 0 && u > 0 { return (right, right) }
    if u <= 0 && l < 0 { return (left, left) }
    return (Swift.min(left, right), Swift.max(left, right))
}

/// The sloped lines of a step at 0 from `left` (x < 0) to `right` (x > 0), the Clarke set at 0
/// the interval between them (the derivative of ReLU and LeakyReLU), l < 0 < u: each side's
/// line through the step's corners (`ActivationDerivative` mixes it with the constant).
func stepRelaxation(l: Double, u: Double, left a: Double, right b: Double) -> NeuronRelaxation? {
    let jump = b - a
    // Increasing step (b > a): below, the line through (0, a) and (u, b); above, through (l, a)
    // and (0, b). Decreasing: below through (l, a) and (0, b); above through (0, a) and (u, b).
    let rel = jump >= 0
        ? NeuronRelaxation(aL: jump / u, bL: a, aU: jump / -l, bU: b)
        : NeuronRelaxation(aL: jump / -l, bL: b, aU: jump / u, bU: a)
    // A slope 1/u with u subnormal overflows to inf (and inf * 0 = NaN downstream): no line.
    return rel.isFinite ? rel : nil
}

/// Outward pad of a range computed with transcendental functions (a few ulps of relative error).
@inline(__always)
func paddedRange(_ lo: Double, _ hi: Double) -> (lower: Double, upper: Double) {
    (lo - 1e-12 * (1 + Swift.abs(lo)), hi + 1e-12 * (1 + Swift.abs(hi)))
}

/// The range of an even "bell" function g (decreasing in |x|) over [l, u].
@inline(__always)
func bellRange(_ l: Double, _ u: Double, _ g: (Double) -> Double) -> (lower: Double, upper: Double) {
    let near = l > 0 ? l : (u < 0 ? u : 0)
    let far = Swift.abs(l) > Swift.abs(u) ? l : u
    return paddedRange(g(far), g(near))
}

/// The gradient node of an activation f: the elementwise map z -> f'(z) (the Clarke
/// generalised derivative, a set at kinks), as an operator the bound engine relaxes like any
/// other (a node of the Jacobian graph; Shi et al., NeurIPS 2022). Its interval image is the
/// derivative's range (`ClarkeDerivative`); its linear relaxation on [l, u] is made sound for
/// every point of the Clarke set by construction: per side a constant line (the range's end) and
/// a sloped one (the operator's own, or the best of several slopes with the intercept shifted by
/// the worst case of the range over 32 sub-intervals), mixed by a parameter in [0, 1].
/// Evaluation gives one element of the Clarke set (f's own derivative). Not an ONNX operator
/// (never loaded from a file).
package struct ActivationDerivative: ElementwiseRelaxation {
    package static let opType = "ClarkeDerivative"
    package let base: any ClarkeDerivative
    /// CROWN's default line on each side (no parameter given): false, the candidate leaving the
    /// smaller gap to the derivative over the interval; true, the constant line (the range's
    /// end). Neither is better on every network (the zoo's mlp_sigmoid favours the constants,
    /// mlp_tanh the sloped lines), so `Lipschitz` bounds with both and keeps the smaller.
    package var constantDefault = false
    /// The candidates by interval (alpha-CROWN asks for the same intervals with many
    /// parameters; computing them takes 32 range evaluations).
    let cache: CandidateCache

    /// nil when `base` has no derivative range (no gradient node for it).
    package init?(base: any ElementwiseUnary) {
        guard let b = base as? any ClarkeDerivative else { return nil }
        self.base = b
        cache = CandidateCache()
    }

    /// The gradient node of `base`, or a `.unsupportedFeature` error naming its op type when
    /// Certus has no Clarke derivative range for it (never an approximation).
    package init(of base: any ElementwiseUnary) throws {
        guard let d = ActivationDerivative(base: base) else {
            throw ModelError(.unsupportedFeature, "no Clarke derivative for '\(type(of: base).opType)': its gradient node (Jacobian graph) cannot be bounded; supported: Relu, LeakyRelu, Abs, Sigmoid, Tanh, Erf, Gelu, Sin, Cos, Exp, Log, Sqrt, Reciprocal, Pow")
        }
        self = d
    }

    package static func make(_ node: NodeContext) throws -> ActivationDerivative {
        throw node.error("'\(opType)' is internal to Certus (gradient nodes of the Jacobian graph) and cannot be loaded")
    }
    package static var representatives: [ActivationDerivative] {
        [Relu() as any ElementwiseUnary, LeakyRelu(alpha: 0.2), Abs(), Sigmoid(), Tanh(), Gelu(), Gelu(tanhApproximation: true), Erf(), Sin(), Cos()].compactMap { ActivationDerivative(base: $0) }
    }

    package func apply(_ x: Double) -> Double { base.derivative(x, base.apply(x)) }
    /// f''(x) (`ClarkeDerivative.secondDerivative`; 0 at the kinks of piecewise-linear f). Only
    /// gradients through the Jacobian graph (attacks) use it; bounds never do.
    package func derivative(_ x: Double, _ y: Double) -> Double { base.secondDerivative(x) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .elementwise }

    /// The derivative's range; an infinite end is taken as +-1e300 (every supported range is
    /// constant that far out).
    package func image(l: Double, u: Double) -> (Double, Double) {
        let r = base.derivativeRange(l: l.isFinite ? l : -1e300, u: u.isFinite ? u : 1e300)
        return (r.lower, r.upper)
    }

    /// The largest |f'| over the real line (the naive Lipschitz bound's activation factor).
    package var largestMagnitude: Double {
        let r = base.derivativeRange(l: -1e300, u: 1e300)
        return Swift.max(Swift.abs(r.lower), Swift.abs(r.upper))
    }

    /// Sub-intervals of the intercept shift.
    static let pieces = 32

    /// Per side, the constant line (the range's end) and the best sloped sound line, if any
    /// (`ClarkeDerivative.derivativeRelaxation`'s, else the tightest of the chord's slope and
    /// the lines pivoting on the envelope's ends, each made sound on 32 pieces), with which of
    /// the two leaves the smaller gap to the pieces' ranges.
    struct Candidates {
        var lowerConstant: Double, upperConstant: Double
        var lowerSloped: (a: Double, b: Double)?, upperSloped: (a: Double, b: Double)?
        var lowerPrefersSloped = false, upperPrefersSloped = false
    }

    func candidates(l: Double, u: Double) -> Candidates {
        let key = CandidateCache.Key(l: l, u: u)
        if let c = cache.get(key) { return c }
        let c = computeCandidates(l: l, u: u)
        cache.put(key, c)
        return c
    }

    func computeCandidates(l: Double, u: Double) -> Candidates {
        let whole = image(l: l, u: u)
        var c = Candidates(lowerConstant: whole.0, upperConstant: whole.1)
        guard l.isFinite, u.isFinite, u - l > 1e-12, (u - l).isFinite else { return c }
        let k = Self.pieces
        // Non-decreasing (rounding is monotone), from l to u exactly, never past u: the pieces
        // cover [l, u].
        var ends = (0...k).map { Swift.min(u, l + (u - l) * Double($0) / Double(k)) }
        ends[k] = u
        let ranges = (0..<k).map { base.derivativeRange(l: ends[$0], u: ends[$0 + 1]) }
        func gapBelow(_ a: Double, _ b: Double) -> Double {
            (0..<k).reduce(0) { s, t in s + (ranges[t].lower - (a * 0.5 * (ends[t] + ends[t + 1]) + b)) }
        }
        func gapAbove(_ a: Double, _ b: Double) -> Double {
            (0..<k).reduce(0) { s, t in s + ((a * 0.5 * (ends[t] + ends[t + 1]) + b) - ranges[t].upper) }
        }
        var ownRelaxation = false
        if let own = base.derivativeRelaxation(l: l, u: u) {
            c.lowerSloped = (own.aL, own.bL); c.upperSloped = (own.aU, own.bU)
            ownRelaxation = true
        } else {
            let fl = apply(l), fu = apply(u)
            let chord = (fu - fl) / (u - l)
            // A line a x + b below every piece's range: b = min over pieces of (range low - max a x).
            func lower(_ a: Double) -> Double {
                (0..<k).map { ranges[$0].lower - Swift.max(a * ends[$0], a * ends[$0 + 1]) }.min()!
            }
            func upper(_ a: Double) -> Double {
                (0..<k).map { ranges[$0].upper - Swift.min(a * ends[$0], a * ends[$0 + 1]) }.max()!
            }
            var lowerSlopes = chord.isFinite ? [chord] : [], upperSlopes = lowerSlopes
            let L0 = ranges[0].lower, U0 = ranges[0].upper, Lk = ranges[k - 1].lower, Uk = ranges[k - 1].upper
            var sl0 = Double.infinity, su0 = -Double.infinity, slk = -Double.infinity, suk = Double.infinity
            for t in 0..<k {
                for x in [ends[t], ends[t + 1]] {
                    if x > l { sl0 = Swift.min(sl0, (ranges[t].lower - L0) / (x - l)); su0 = Swift.max(su0, (ranges[t].upper - U0) / (x - l)) }
                    if x < u { slk = Swift.max(slk, (Lk - ranges[t].lower) / (u - x)); suk = Swift.min(suk, (Uk - ranges[t].upper) / (u - x)) }
                }
            }
            for v in [sl0, slk] where v.isFinite && v != 0 { lowerSlopes.append(v) }
            for v in [su0, suk] where v.isFinite && v != 0 { upperSlopes.append(v) }
            var best = Double.infinity
            for a in lowerSlopes {
                let b = lower(a), g = gapBelow(a, b)
                if b.isFinite, g < best { best = g; c.lowerSloped = (a, b) }
            }
            best = .infinity
            for a in upperSlopes {
                let b = upper(a), g = gapAbove(a, b)
                if b.isFinite, g < best { best = g; c.upperSloped = (a, b) }
            }
        }
        // CROWN's default: the constant for a step (a kink's derivative: the sloped line through
        // the step's corners is offered to alpha-CROWN, but as a default it is looser on every
        // ReLU zoo network, and auto_LiRPA's ReLU gradient node uses the constant range too);
        // otherwise whichever line leaves the smaller gap.
        guard !ownRelaxation else { return c }
        if let s = c.lowerSloped { c.lowerPrefersSloped = gapBelow(s.a, s.b) < gapBelow(0, c.lowerConstant) }
        if let s = c.upperSloped { c.upperPrefersSloped = gapAbove(s.a, s.b) < gapAbove(0, c.upperConstant) }
        return c
    }

    /// Each side's line is p x (sloped candidate) + (1 - p) x (constant candidate), p its
    /// parameter in [0, 1]: a convex combination of two sound lines is sound, so alpha-CROWN
    /// may choose any mix (default: the one with the smaller gap, p = 0 or 1).
    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        relaxationWithDerivatives(l: l, u: u, lowerParameter: lowerParameter, upperParameter: upperParameter).relaxation
    }

    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        let c = candidates(l: l, u: u)
        return (c.lowerSloped == nil ? nil : (c.lowerPrefersSloped && !constantDefault ? 1 : 0),
                c.upperSloped == nil ? nil : (c.upperPrefersSloped && !constantDefault ? 1 : 0))
    }

    package func relaxationWithDerivatives(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?)
        -> (relaxation: NeuronRelaxation, lower: (Double, Double), upper: (Double, Double)) {
        let c = candidates(l: l, u: u)
        var rel = NeuronRelaxation.constant(c.lowerConstant, c.upperConstant)
        var dl = (0.0, 0.0), du = (0.0, 0.0)
        guard l.isFinite, u.isFinite, u - l > 1e-12 else { return (rel, dl, du) }
        if let s = c.lowerSloped {
            let p = unitParameter(lowerParameter) ?? (c.lowerPrefersSloped && !constantDefault ? 1 : 0)
            rel.aL = p * s.a; rel.bL = p * s.b + (1 - p) * c.lowerConstant
            if lowerParameter != nil { dl = (s.a, s.b - c.lowerConstant) }
        }
        if let s = c.upperSloped {
            let p = unitParameter(upperParameter) ?? (c.upperPrefersSloped && !constantDefault ? 1 : 0)
            rel.aU = p * s.a; rel.bU = p * s.b + (1 - p) * c.upperConstant
            if upperParameter != nil { du = (s.a, s.b - c.upperConstant) }
        }
        return (rel.paddedForRounding(l: l, u: u), dl, du)
    }
}

/// A bounded, thread-safe memo of `ActivationDerivative.candidates` by interval (cleared when
/// full; the values are a pure function of the key).
final class CandidateCache: @unchecked Sendable {
    struct Key: Hashable { var l: Double; var u: Double }
    private var table: [Key: ActivationDerivative.Candidates] = [:]
    private let lock = NSLock()
    static let capacity = 200_000
    func get(_ k: Key) -> ActivationDerivative.Candidates? { lock.lock(); defer { lock.unlock() }; return table[k] }
    func put(_ k: Key, _ v: ActivationDerivative.Candidates) {
        lock.lock(); defer { lock.unlock() }
        if table.count >= Self.capacity { table.removeAll(keepingCapacity: true) }
        table[k] = v
    }
}

import Foundation

/// Where branch and bound splits a smooth activation's input (GenBaB, Shi et al., "Neural
/// Network Verification with Branch-and-Bound for General Nonlinearities", TACAS 2025).
///
/// Each smooth operator's `branchingPoint(l:u:strategy:)` asks here. The returned point is
/// strictly inside (l, u); nil means the interval is too narrow for a split to matter.
public enum BranchingPoints {
    /// The functions with a branching-point rule.
    public enum Function: String, Sendable, CaseIterable {
        case sigmoid, tanh, erf, gelu, geluTanh, sin, cos
    }

    /// Intervals narrower than this (absolute, or relative to the larger end) are not split:
    /// the relaxation of a smooth function on them is already within about w^2 |f''| / 8.
    public static let minimumWidth = 1e-5

    /// The split point of `f` on [l, u] under `strategy`, strictly inside (l, u), or nil.
    public static func point(_ f: Function, l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard !l.isNaN, !u.isNaN, u > l else { return nil }
        let scale = Swift.max(1, Swift.max(Swift.abs(l.isFinite ? l : 0), Swift.abs(u.isFinite ? u : 0)))
        guard u - l > minimumWidth * scale else { return nil }
        // Unbounded ends: split at 0 when it is inside, else one unit inside the finite end.
        if !l.isFinite || !u.isFinite {
            if l < 0 && u > 0 { return 0 }
            return l.isFinite ? l + 1 : (u.isFinite ? u - 1 : 0)
        }
        let mid = l + 0.5 * (u - l)
        switch strategy {
        case .midpoint:
            return inside(mid, l, u)
        case .optimized:
            return inside(optimized(f, l: l, u: u) ?? mid, l, u)
        }
    }

    /// The pre-optimised point from the table, or nil outside the table's range.
    static func optimized(_ f: Function, l: Double, u: Double) -> Double? {
        nil
    }

    /// `p` pulled into the middle 98% of (l, u), so both children keep some width.
    static func inside(_ p: Double, _ l: Double, _ u: Double) -> Double? {
        let margin = 0.01 * (u - l)
        let q = Swift.min(u - margin, Swift.max(l + margin, p))
        return q > l && q < u ? q : nil
    }
}

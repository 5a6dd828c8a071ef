import CertusGraph
import CertusBounds

/// How branch and bound picks the neuron to split (`certus verify --branching`).
public enum BranchingHeuristic: String, Sendable, Codable, CaseIterable {
    /// BaBSR on piecewise-linear networks, BBPS otherwise.
    case auto
    /// BaBSR (Bunel et al., "Branch and Bound for Piecewise Linear Neural Network Verification",
    /// JMLR 2020): the intercept score Σ over open clauses of (−λ)⁺ · b_U − λ⁺ · b_L, λ the
    /// clause's coefficient on the node's output and b_L, b_U the intercepts of its default
    /// relaxation (for ReLU: (−λ)⁺ · (−l u / (u − l))), with a small tie-break on |λ| and width.
    case babsr
    /// BBPS (GenBaB, Shi et al. 2025): the estimated gain of the worse child, from the saved
    /// backward coefficients and the children's relaxations concretised on their own intervals,
    /// without re-propagating (see `BranchingChoice.bbpsScore`).
    case bbps
    /// The widest pre-activation interval (for comparison).
    case width
}

/// The branching decision of one domain.
enum BranchingChoice {
    /// The neuron to split (value, index, point) with the best score under `heuristic` among
    /// the neurons whose operator gives a branching point, or nil when none does.
    /// `rows`: the positions in each node's `lambda` of the rows that matter (one per open
    /// clause); without coefficients the score falls back to the interval width.
    /// `products`: operands of products of two variables, also candidates (see `productScore`).
    static func choose(_ nodes: [DomainBounds.NeuronInfo], products: [DomainBounds.ProductInfo] = [], rows: [Int],
                       heuristic: BranchingHeuristic, points: BranchingPointStrategy,
                       minimumWidth: Double) -> (value: Int, index: Int, point: Double)? {
        var best: (value: Int, index: Int, point: Double)? = nil
        var bestScore = -Double.infinity
        for info in products {
            for j in info.xLower.indices {
                let wx = info.xUpper[j] - info.xLower[j], wy = info.yUpper[j] - info.yLower[j]
                // The wider splittable operand (halving either halves McCormick's gap).
                var pick: (value: Int, l: Double, u: Double)? = nil
                if info.xSplittable && (!info.ySplittable || !(wy > wx)) { pick = (info.x, info.xLower[j], info.xUpper[j]) }
                else if info.ySplittable { pick = (info.y, info.yLower[j], info.yUpper[j]) }
                guard let pick, pick.u - pick.l >= minimumWidth,
                      let p = info.operation.operandBranchingPoint(l: pick.l, u: pick.u, strategy: points) else { continue }
                let lambdas: [Double] = info.lambda.map { lam in rows.compactMap { $0 < lam.count ? lam[$0][j] : nil } } ?? []
                let width = pick.u - pick.l
                var score = heuristic == .width || lambdas.isEmpty ? width : productScore(lambdas: lambdas, wx: wx, wy: wy)
                score += 1e-12 * Swift.min(width, 1e12)
                if score > bestScore { bestScore = score; best = (pick.value, j, p) }
            }
        }
        for info in nodes {
            let op = info.operation
            for j in info.lower.indices {
                let l = info.lower[j], u = info.upper[j]
                // Smooth neurons narrower than `minimumWidth` are left alone (GenBaB's 0.01); kinks
                // are always split (their children are exact).
                guard op.isPiecewiseLinear || !(u - l < minimumWidth),
                      let p = op.branchingPoint(l: l, u: u, strategy: points) else { continue }
                let lambdas: [Double] = info.lambda.map { lam in rows.compactMap { $0 < lam.count ? lam[$0][j] : nil } } ?? []
                let zs: [Double]? = info.relaxedInput.map { z in rows.compactMap { $0 < z.count ? z[$0][j] : nil } }
                let width = u.isFinite && l.isFinite ? u - l : Double.greatestFiniteMagnitude
                var score: Double
                switch heuristic {
                case .width:
                    score = width
                case .babsr, .auto:
                    score = babsrScore(op, l: l, u: u, lambdas: lambdas)
                case .bbps:
                    score = bbpsScore(op, l: l, u: u, point: p, lambdas: lambdas, inputs: zs)
                }
                if lambdas.isEmpty { score = width }
                // Tiny deterministic tie-break toward wider intervals.
                score += 1e-12 * Swift.min(width, 1e12)
                if score > bestScore { bestScore = score; best = (info.value, j, p) }
            }
        }
        return best
    }

    /// The estimated gain of splitting an operand of x * y at its midpoint (BBPS and BaBSR alike):
    /// McCormick's planes on [lx, ux] x [ly, uy] are (ux - lx)(uy - ly) / 4 from xy at the box's
    /// centre, and each child halves that gap, so each row with coefficient λ on the product
    /// gains about |λ| (ux - lx)(uy - ly) / 8.
    static func productScore(lambdas: [Double], wx: Double, wy: Double) -> Double {
        let gap = wx * wy / 8
        guard gap.isFinite else { return -Double.infinity }
        return lambdas.reduce(0) { $0 + Swift.abs($1) } * gap
    }

    /// BaBSR's intercept score with |λ| times the smaller side as a tie-break (for ReLU exactly
    /// the score beta-CROWN's BaBSR uses).
    static func babsrScore(_ op: any ElementwiseRelaxation, l: Double, u: Double, lambdas: [Double]) -> Double {
        let r = op.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
        var s = 0.0, tie = 0.0
        let side = Swift.min(Swift.abs(l), Swift.abs(u))
        for v in lambdas {
            s += Swift.max(-v, 0) * r.bU - Swift.max(v, 0) * r.bL
            tie += Swift.abs(v) * (side.isFinite ? side : 1)
        }
        return s + 1e-3 * tie
    }

    /// BBPS: the neuron's share of each row's lower bound, λ⁺ (a_L z + b_L) + λ⁻ (a_U z + b_U),
    /// is re-evaluated with each child's relaxation, everything else kept (no re-propagation):
    /// the intercept changes, and the slope change times z at the row's minimiser in the relaxed
    /// network (`relaxedInput`, clamped into the child's interval). Without those values z is
    /// concretised over the interval instead (coarser: it rewards any narrowing). The score is
    /// the summed gain of the worse child (a domain's bound is the minimum of its children's).
    static func bbpsScore(_ op: any ElementwiseRelaxation, l: Double, u: Double, point p: Double, lambdas: [Double],
                          inputs: [Double]?) -> Double {
        let parent = op.relaxation(l: l, u: u, lowerParameter: nil, upperParameter: nil)
        let left = op.relaxation(l: l, u: p, lowerParameter: nil, upperParameter: nil)
        let right = op.relaxation(l: p, u: u, lowerParameter: nil, upperParameter: nil)
        func share(_ r: NeuronRelaxation, _ a: Double, _ b: Double, _ v: Double, _ z: Double?) -> Double {
            let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
            let slope = vp * r.aL + vn * r.aU, intercept = vp * r.bL + vn * r.bU
            if let z { return intercept + slope * Swift.min(b, Swift.max(a, z)) }
            return intercept + Swift.min(slope * a, slope * b)
        }
        var gainLeft = 0.0, gainRight = 0.0
        for (k, v) in lambdas.enumerated() where v != 0 {
            let z = inputs.flatMap { k < $0.count ? $0[k] : nil }
            let c0 = share(parent, l, u, v, z)
            gainLeft += share(left, l, p, v, z) - c0
            gainRight += share(right, p, u, v, z) - c0
        }
        let s = Swift.min(gainLeft, gainRight)
        return s.isNaN ? -Double.infinity : s
    }
}

import CertusGraph

/// Fast paths of `BoundEngine.backward` for CROWN's default relaxations (no alpha-CROWN
/// parameters). Each gives bit for bit what the general code gives, only without per-element
/// calls or work on coefficients that are zero; the Jacobian graph's passes (`JacobianGraph`)
/// are made of such nodes.
extension BoundEngine {
    /// Whether every neuron's relaxation has slope 0 on both sides (a derivative node relaxed by
    /// constants, a stable ReLU layer...): then nothing reaches the node's input, whatever the
    /// coefficients at its output (only the intercepts enter the bias).
    static func hasZeroSlopes(_ relax: Relaxation) -> Bool {
        !relax.aL.contains { $0 != 0 } && !relax.aU.contains { $0 != 0 }
    }

    /// The bias that `elementwiseBackward` adds for a relaxation with zero slopes (the same sums
    /// in the same order), without the all-zero input coefficients.
    func zeroSlopeBias(A: Matrix, relax: Relaxation, bias: inout [Double]) {
        let cols = A.cols
        A.data.withUnsafeBufferPointer { a in
        relax.bL.withUnsafeBufferPointer { bL in relax.bU.withUnsafeBufferPointer { bU in
            for r in 0..<A.rows {
                let base = r * cols
                var b = 0.0, mb = 0.0
                for j in 0..<cols {
                    let v = a[base + j]
                    let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
                    let t = vp * bL[j] + vn * bU[j]
                    b += t
                    mb += Swift.abs(t)
                }
                bias[r] += b - RoundingGuard.relative * mb
            }
        } }
        }
    }

    /// The product x y's backward step with CROWN's default McCormick planes (`defaultPlaneMix`,
    /// no parameters): the coefficients on x and on y, and the bias, exactly as the general loop
    /// computes them, with each column's two planes (below for a > 0, above for a < 0) made once
    /// instead of once per row.
    func defaultProductBackward(A: Matrix, x bx: ValueBounds, y by: ValueBounds, gate: Int?,
                                bias: inout [Double]) -> (Matrix, Matrix) {
        let rows = A.rows, cols = A.cols
        var belowX = [Double](repeating: 0, count: cols), belowY = belowX, belowC = belowX
        var aboveX = belowX, aboveY = belowX, aboveC = belowX, mag = belowX
        for j in 0..<cols {
            let (xl, xu, yl, yu) = (bx.lower[j], bx.upper[j], by.lower[j], by.upper[j])
            mag[j] = Swift.max(Swift.abs(xl), Swift.abs(xu)) * Swift.max(Swift.abs(yl), Swift.abs(yu))
            let tb = BoundEngine.planeMix(nil, 0, j, below: true, xl: xl, xu: xu, yl: yl, yu: yu, gate: gate)
            let pb = BoundEngine.mcCormick(below: true, t: tb, xl: xl, xu: xu, yl: yl, yu: yu)
            belowX[j] = pb.x; belowY[j] = pb.y; belowC[j] = pb.c
            let ta = BoundEngine.planeMix(nil, 0, j, below: false, xl: xl, xu: xu, yl: yl, yu: yu, gate: gate)
            let pa = BoundEngine.mcCormick(below: false, t: ta, xl: xl, xu: xu, yl: yl, yu: yu)
            aboveX[j] = pa.x; aboveY[j] = pa.y; aboveC[j] = pa.c
        }
        let finite = [belowX, belowY, belowC, aboveX, aboveY, aboveC, mag].allSatisfy { $0.allSatisfy(\.isFinite) }
        var Ax = Matrix(zeros: rows, cols), Ay = Matrix(zeros: rows, cols)
        A.data.withUnsafeBufferPointer { a in
        Ax.data.withUnsafeMutableBufferPointer { ox in Ay.data.withUnsafeMutableBufferPointer { oy in
        belowX.withUnsafeBufferPointer { bxp in belowY.withUnsafeBufferPointer { byp in belowC.withUnsafeBufferPointer { bcp in
        aboveX.withUnsafeBufferPointer { axp in aboveY.withUnsafeBufferPointer { ayp in aboveC.withUnsafeBufferPointer { acp in
        mag.withUnsafeBufferPointer { mp in
            let bX = bxp.baseAddress!, bY = byp.baseAddress!, bC = bcp.baseAddress!
            let uX = axp.baseAddress!, uY = ayp.baseAddress!, uC = acp.baseAddress!, m = mp.baseAddress!
            let rel3 = RoundingGuard.relative * 3
            for r in 0..<rows where finite {
                // Finite planes: a branch-free select of each column's plane by the sign of v
                // (v+ times one, v- times the other, the unused one times 0), the same values.
                let av = a.baseAddress! + r * cols, xo = ox.baseAddress! + r * cols, yo = oy.baseAddress! + r * cols
                for j in 0..<cols {
                    let v = av[j]
                    let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
                    xo[j] = vp * bX[j] + vn * uX[j]
                    yo[j] = vp * bY[j] + vn * uY[j]
                }
                var b = bias[r]
                for j in 0..<cols {
                    let v = av[j]
                    let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
                    b -= (vp * bC[j] + vn * uC[j]) + rel3 * Swift.abs(v) * m[j]
                }
                bias[r] = b
            }
            for r in 0..<rows where !finite {
                let av = a.baseAddress! + r * cols, xo = ox.baseAddress! + r * cols, yo = oy.baseAddress! + r * cols
                var b = bias[r]
                for j in 0..<cols {
                    let v = av[j]
                    if v == 0 { continue }
                    let pos = v > 0
                    xo[j] = v * (pos ? bX[j] : uX[j])
                    yo[j] = v * (pos ? bY[j] : uY[j])
                    // The general loop's expression, term for term (the same rounding).
                    b -= v * (pos ? bC[j] : uC[j]) + (pos ? 1 : -1) * RoundingGuard.relative * 3 * v * m[j]
                }
                bias[r] = b
            }
        }
        } } }
        } } }
        } }
        }
        return (Ax, Ay)
    }
}

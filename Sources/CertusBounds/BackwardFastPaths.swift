import CertusTensor
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
    /// in the same order), without the all-zero input coefficients. Neurons whose intercepts
    /// are both 0 (a dead ReLU's derivative) add exactly +0 to each row's sums when the
    /// coefficients are finite: only the others are visited then.
    func zeroSlopeBias(A: Matrix, relax: Relaxation, bias: inout [Double]) {
        let cols = A.cols
        var columns = (0..<cols).filter { relax.bL[$0] != 0 || relax.bU[$0] != 0 }
        if columns.count < cols && !BLAS.allFinite(A.data) { columns = Array(0..<cols) }   // 0 * inf is NaN
        let n = columns.count
        let bL = columns.map { relax.bL[$0] }, bU = columns.map { relax.bU[$0] }
        A.data.withUnsafeBufferPointer { a in columns.withUnsafeBufferPointer { cp in
        bL.withUnsafeBufferPointer { lp in bU.withUnsafeBufferPointer { up in
            let c = cp.baseAddress!, l = lp.baseAddress!, u = up.baseAddress!
            @inline(__always) func term(_ v: Double, _ k: Int) -> Double {
                let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
                return vp * l[k] + vn * u[k]
            }
            BoundEngine.addGuardedRowSums(a.baseAddress!, rows: A.rows, cols: cols, terms: n, to: &bias, guarded: isGuarded) { row, k in
                term(row[c[k]], k)
            }
        } } } }
    }

    /// bias[r] += sum_k t(r, k) - `RoundingGuard.relative` * sum_k |t(r, k)| for every row r of a
    /// row-major `rows` x `cols` matrix at `a`, where t(r, k) = `term(row r, k)` for k in
    /// 0..<`terms`, summed in that order: the guarded bias sums of the backward fast paths. Four
    /// rows at a time, so that their sums (each still added in order, the same value as one row
    /// at a time) overlap in the pipeline.
    /// `guarded` false (`roundingGuard` off, benchmarks only): the plain sums, without the
    /// magnitudes (the loops are inlined twice with a constant, so each copy does only its work).
    /// `after`, if given, is called with each group of rows once their sums are added (a caller
    /// that rewrites those rows in place).
    @inline(__always)
    static func addGuardedRowSums(_ a: UnsafePointer<Double>, rows: Int, cols: Int, terms n: Int, to bias: inout [Double],
                                  guarded: Bool = true, after: ((Range<Int>) -> Void)? = nil,
                                  _ term: (UnsafePointer<Double>, Int) -> Double) {
        @inline(__always) func sums(_ g: Bool) {
            var r = 0
            while r + 4 <= rows {
                let p0 = a + r * cols, p1 = p0 + cols, p2 = p1 + cols, p3 = p2 + cols
                var b0 = 0.0, b1 = 0.0, b2 = 0.0, b3 = 0.0, m0 = 0.0, m1 = 0.0, m2 = 0.0, m3 = 0.0
                for k in 0..<n {
                    let t0 = term(p0, k), t1 = term(p1, k), t2 = term(p2, k), t3 = term(p3, k)
                    b0 += t0; b1 += t1; b2 += t2; b3 += t3
                    if g { m0 += Swift.abs(t0); m1 += Swift.abs(t1); m2 += Swift.abs(t2); m3 += Swift.abs(t3) }
                }
                bias[r] += RoundingGuard.down(b0, magnitude: m0, g)
                bias[r + 1] += RoundingGuard.down(b1, magnitude: m1, g)
                bias[r + 2] += RoundingGuard.down(b2, magnitude: m2, g)
                bias[r + 3] += RoundingGuard.down(b3, magnitude: m3, g)
                after?(r..<(r + 4))
                r += 4
            }
            while r < rows {
                let row = a + r * cols
                var b = 0.0, mb = 0.0
                for k in 0..<n {
                    let t = term(row, k)
                    b += t
                    if g { mb += Swift.abs(t) }
                }
                bias[r] += RoundingGuard.down(b, magnitude: mb, g)
                after?(r..<(r + 1))
                r += 1
            }
        }
        if guarded { sums(true) } else { sums(false) }
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
        // Finite planes write every entry below: no zeros to write first.
        func matrix() -> Matrix {
            finite ? Matrix(rows: rows, cols: cols, data: [Double](unsafeUninitializedCapacity: rows * cols) { _, n in n = rows * cols })
                   : Matrix(zeros: rows, cols)
        }
        var Ax = matrix(), Ay = matrix()
        A.data.withUnsafeBufferPointer { a in
        Ax.data.withUnsafeMutableBufferPointer { ox in Ay.data.withUnsafeMutableBufferPointer { oy in
        belowX.withUnsafeBufferPointer { bxp in belowY.withUnsafeBufferPointer { byp in belowC.withUnsafeBufferPointer { bcp in
        aboveX.withUnsafeBufferPointer { axp in aboveY.withUnsafeBufferPointer { ayp in aboveC.withUnsafeBufferPointer { acp in
        mag.withUnsafeBufferPointer { mp in
            let bX = bxp.baseAddress!, bY = byp.baseAddress!, bC = bcp.baseAddress!
            let uX = axp.baseAddress!, uY = ayp.baseAddress!, uC = acp.baseAddress!, m = mp.baseAddress!
            let rel3 = RoundingGuard.relative * 3
            @inline(__always) func term(_ v: Double, _ j: Int) -> Double {
                let vp = Swift.max(v, 0), vn = Swift.min(v, 0)
                return (vp * bC[j] + vn * uC[j]) + rel3 * Swift.abs(v) * m[j]
            }
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
            }
            // The bias, four rows at a time (each row's sum still in column order: the same
            // values, with the four sums overlapping in the pipeline).
            var r = 0
            while finite && r + 4 <= rows {
                let p0 = a.baseAddress! + r * cols, p1 = p0 + cols, p2 = p1 + cols, p3 = p2 + cols
                var b0 = bias[r], b1 = bias[r + 1], b2 = bias[r + 2], b3 = bias[r + 3]
                for j in 0..<cols {
                    b0 -= term(p0[j], j); b1 -= term(p1[j], j); b2 -= term(p2[j], j); b3 -= term(p3[j], j)
                }
                bias[r] = b0; bias[r + 1] = b1; bias[r + 2] = b2; bias[r + 3] = b3
                r += 4
            }
            while finite && r < rows {
                let av = a.baseAddress! + r * cols
                var b = bias[r]
                for j in 0..<cols { b -= term(av[j], j) }
                bias[r] = b
                r += 1
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

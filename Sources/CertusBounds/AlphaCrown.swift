import Foundation
import CertusTensor
import CertusGraph

/// alpha-CROWN: the relaxation parameters of every elementwise node in the backward cone are
/// optimised per row by projected Adam ascent on the row's lower bound. Every iterate is a
/// sound CROWN bound (each parameter in [0, 1] gives a valid relaxation), so the best bound seen
/// for each row is returned.
///
/// Gradient: with intermediate bounds fixed, the lower bound is a function of the coefficients
/// reaching each node, and its derivative with respect to those coefficients is the value of the
/// relaxed network at the minimising input (the adjoint of the backward pass). One forward pass
/// per iteration through the chosen linear relaxations gives every node's adjoint.
extension BoundEngine {
    func optimize(target: Int, A: Matrix, box: ValueBounds, bounds: [ValueBounds?],
                  relaxations: inout [Int: Relaxation], iterations: Int, settings: BoundSettings) throws -> [Double] {
        let rows = A.rows
        var record = BackwardRecord()
        var best = try backward(target: target, A: A, box: box, bounds: bounds, relaxations: &relaxations, record: record)
        guard iterations > 0 else { return best }
        // Parameters, initialised to the CROWN defaults.
        var params: [Int: NodeParameters] = [:]
        for i in record.atNode.keys {
            guard let op = graph.nodes[i].op as? any ElementwiseRelaxation, let b = bounds[graph.nodes[i].inputs[0]] else { continue }
            let n = b.lower.count
            var pl = Matrix(rows: rows, cols: n, data: .init(repeating: .nan, count: rows * n)), pu = pl
            var any = false
            for j in 0..<n {
                let (l, u) = op.defaultParameters(l: b.lower[j], u: b.upper[j])
                if let l { any = true; for r in 0..<rows { pl[r, j] = l } }
                if let u { any = true; for r in 0..<rows { pu[r, j] = u } }
            }
            if any { params[i] = NodeParameters(lower: pl, upper: pu) }
        }
        if params.isEmpty { return best }
        var m1: [Int: NodeParameters] = params.mapValues { NodeParameters(lower: Matrix(zeros: rows, $0.lower.cols), upper: Matrix(zeros: rows, $0.upper.cols)) }
        var m2 = m1
        var lr = settings.learningRate
        let beta1 = 0.9, beta2 = 0.999, eps = 1e-8
        var stale = 0
        var bestSum = best.reduce(0, +)
        for it in 1...iterations {
            if let d = settings.deadline, Date() >= d { break }
            record = BackwardRecord()
            let lb = try backward(target: target, A: A, box: box, bounds: bounds, relaxations: &relaxations,
                                  parameters: params, record: record)
            for r in 0..<rows where lb[r] > best[r] { best[r] = lb[r] }
            let s = best.reduce(0, +)
            if s > bestSum + 1e-9 * max(1, abs(bestSum)) { bestSum = s; stale = 0 } else {
                stale += 1
                if stale >= settings.earlyStopPatience { break }
            }
            let grads = try gradients(target: target, record: record, box: box, bounds: bounds,
                                      relaxations: relaxations, params: params)
            // Adam ascent, projected to [0, 1].
            let c1 = 1 - pow(beta1, Double(it)), c2 = 1 - pow(beta2, Double(it))
            for (i, g) in grads {
                var p = params[i]!, a = m1[i]!, b = m2[i]!
                func step(_ P: inout Matrix, _ G: Matrix, _ M: inout Matrix, _ V: inout Matrix) {
                    for t in 0..<P.data.count where !P.data[t].isNaN {
                        let gt = G.data[t]
                        M.data[t] = beta1 * M.data[t] + (1 - beta1) * gt
                        V.data[t] = beta2 * V.data[t] + (1 - beta2) * gt * gt
                        let upd = lr * (M.data[t] / c1) / ((V.data[t] / c2).squareRoot() + eps)
                        P.data[t] = min(1, max(0, P.data[t] + upd))
                    }
                }
                step(&p.lower, g.lower, &a.lower, &b.lower)
                step(&p.upper, g.upper, &a.upper, &b.upper)
                params[i] = p; m1[i] = a; m2[i] = b
            }
            lr *= settings.learningRateDecay
        }
        return best
    }

    /// d(lower bound of each row)/d(parameter), by one forward pass of the relaxed network at
    /// the minimising input.
    func gradients(target: Int, record: BackwardRecord, box: ValueBounds, bounds: [ValueBounds?],
                   relaxations: [Int: Relaxation], params: [Int: NodeParameters]) throws -> [Int: NodeParameters] {
        guard let Ain = record.atInput, let last = producer[target] else { return [:] }
        let rows = Ain.rows
        var values: [Int: Matrix] = [:]
        var x = Matrix(zeros: rows, Ain.cols)
        for r in 0..<rows { for j in 0..<Ain.cols { x[r, j] = Ain[r, j] >= 0 ? box.lower[j] : box.upper[j] } }
        values[graph.input] = x
        var grads: [Int: NodeParameters] = [:]
        func value(_ v: Int) -> Matrix? { values[v] }
        for i in 0...last {
            let node = graph.nodes[i]
            guard node.inputs.allSatisfy({ isConstant[$0] || values[$0] != nil }) else { continue }
            switch kinds[i] {
            case .unsupported: continue
            case .affine:
                values[node.output] = try affineForward(node: i, rows: rows, values: values)
            case .elementwise:
                let v = node.inputs[0]
                let X = values[v]!, b = bounds[v]!
                let relax = relaxations[i]
                let op = node.op as! any ElementwiseRelaxation
                let Aout = record.atNode[i]
                var Y = Matrix(zeros: rows, X.cols)
                let p = params[i]
                var g = p.map { NodeParameters(lower: Matrix(zeros: rows, $0.lower.cols), upper: Matrix(zeros: rows, $0.upper.cols)) }
                if op is Relu, let relax {
                    // ReLU fast path: the parameter is the lower slope; d(lower line)/dp = x.
                    for r in 0..<rows {
                        for j in 0..<X.cols {
                            let a = Aout?[r, j] ?? 1
                            let xv = X[r, j]
                            let pl = p?.lower[r, j] ?? .nan
                            let aL = pl.isNaN ? relax.aL[j] : pl
                            Y[r, j] = a >= 0 ? aL * xv + relax.bL[j] : relax.aU[j] * xv + relax.bU[j]
                            if a > 0, !pl.isNaN { g![r, j, lower: true] = a * xv }
                        }
                    }
                    values[node.output] = Y
                    if let g { grads[i] = g }
                    continue
                }
                for r in 0..<rows {
                    for j in 0..<X.cols {
                        let a = Aout?[r, j] ?? 1
                        let xv = X[r, j]
                        let pl = p?.lower[r, j] ?? .nan, pu = p?.upper[r, j] ?? .nan
                        let rel: NeuronRelaxation
                        if !pl.isNaN || !pu.isNaN {
                            rel = op.relaxation(l: b.lower[j], u: b.upper[j], lowerParameter: pl.isNaN ? nil : pl, upperParameter: pu.isNaN ? nil : pu)
                        } else if let relax {
                            rel = NeuronRelaxation(aL: relax.aL[j], bL: relax.bL[j], aU: relax.aU[j], bU: relax.bU[j])
                        } else {
                            rel = op.relaxation(l: b.lower[j], u: b.upper[j], lowerParameter: nil, upperParameter: nil)
                        }
                        Y[r, j] = a >= 0 ? rel.aL * xv + rel.bL : rel.aU * xv + rel.bU
                        // Derivative of the chosen side with respect to its parameter (central difference).
                        if a > 0, !pl.isNaN {
                            let h = 1e-4
                            let lo = max(0, pl - h), hi = min(1, pl + h)
                            let f1 = op.relaxation(l: b.lower[j], u: b.upper[j], lowerParameter: hi, upperParameter: pu.isNaN ? nil : pu)
                            let f0 = op.relaxation(l: b.lower[j], u: b.upper[j], lowerParameter: lo, upperParameter: pu.isNaN ? nil : pu)
                            g![r, j, lower: true] = a * ((f1.aL - f0.aL) * xv + (f1.bL - f0.bL)) / (hi - lo)
                        } else if a < 0, !pu.isNaN {
                            let h = 1e-4
                            let lo = max(0, pu - h), hi = min(1, pu + h)
                            let f1 = op.relaxation(l: b.lower[j], u: b.upper[j], lowerParameter: pl.isNaN ? nil : pl, upperParameter: hi)
                            let f0 = op.relaxation(l: b.lower[j], u: b.upper[j], lowerParameter: pl.isNaN ? nil : pl, upperParameter: lo)
                            g![r, j, lower: false] = a * ((f1.aU - f0.aU) * xv + (f1.bU - f0.bU)) / (hi - lo)
                        }
                    }
                }
                values[node.output] = Y
                if let g { grads[i] = g }
            case .bilinear:
                let (xv, yv) = (node.inputs[0], node.inputs[1])
                let X = values[xv]!, Yin = values[yv]!, bx = bounds[xv]!, by = bounds[yv]!
                let Aout = record.atNode[i]
                var Z = Matrix(zeros: rows, X.cols)
                for r in 0..<rows {
                    for j in 0..<X.cols {
                        let a = Aout?[r, j] ?? 1
                        let (xl, yl, yu) = (bx.lower[j], by.lower[j], by.upper[j])
                        Z[r, j] = a >= 0 ? yl * X[r, j] + xl * Yin[r, j] - xl * yl : yu * X[r, j] + xl * Yin[r, j] - xl * yu
                    }
                }
                values[node.output] = Z
            }
        }
        return grads
    }

    /// An affine node applied to each row of its variable inputs.
    func affineForward(node i: Int, rows: Int, values: [Int: Matrix]) throws -> Matrix {
        let node = graph.nodes[i]
        let ins = node.inputs
        let outN = size(node.output)
        if let g = node.op as? Gemm, ins.count >= 2, !isConstant[ins[0]], isConstant[ins[1]] {
            let xs = graph.values[ins[0]].shape
            if xs.count == 2, !g.transA, xs[0] == 1, ins.count == 2 || isConstant[ins[2]] {
                let X = values[ins[0]]!, B = graph.constants[ins[1]]!
                var Y = X.multiplied(by: B.data, n: outN, transposeB: g.transB)
                if g.alpha != 1 { for t in 0..<Y.data.count { Y.data[t] *= g.alpha } }
                if ins.count == 3 {
                    let C = graph.constants[ins[2]]!
                    let map = Broadcast.indexMap(from: C.shape, to: [1, outN])
                    for r in 0..<rows { for j in 0..<outN { Y[r, j] += g.beta * C.data[map[j]] } }
                }
                return Y
            }
        }
        if node.op is any ShapeOnly || node.op is Identity { return values[ins[0]]! }
        // Generic: evaluate each row.
        var Y = Matrix(zeros: rows, outN)
        for r in 0..<rows {
            let args = ins.map { v -> Tensor in
                if let c = graph.constants[v] { return c }
                return Tensor(shape: graph.values[v].shape, data: Array(values[v]!.row(r)))
            }
            let out = try node.op.evaluate(args)
            Y.data.replaceSubrange((r * outN)..<((r + 1) * outN), with: out.data)
        }
        return Y
    }
}

extension NodeParameters {
    subscript(r: Int, j: Int, lower lower: Bool) -> Double {
        get { lower ? self.lower[r, j] : self.upper[r, j] }
        set { if lower { self.lower[r, j] = newValue } else { self.upper[r, j] = newValue } }
    }
}

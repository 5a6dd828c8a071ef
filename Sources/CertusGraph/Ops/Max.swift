import Foundation
import CertusTensor

/// ONNX `Max` and `Min` (in Min.swift): the elementwise maximum (minimum) of one or more inputs
/// with multidirectional (numpy) broadcasting (opset 8 on; older opsets need equal shapes, which
/// broadcasting accepts). Shared evaluation, IBP and gradient; the relaxation is per operator.
///
/// Bounds: IBP is exact (the max of the lower ends and the max of the upper ends). CROWN has a
/// linear relaxation for a computed first input and a constant second input whose elements are
/// all one finite value c: max(x, c) = c + relu(x - c), the ReLU relaxation shifted to the kink
/// (c, c) (see `Max.relaxation`; min(x, c) = -max(-x, -c)). Two computed inputs, or a constant
/// that varies across elements or comes first, are bounded through the decomposition
/// (`decomposition`: a balanced tree of max(a, b) = a + relu(b - a)).
package protocol ElementwiseExtremum: ElementwiseRelaxation {
    /// +1 for Max, -1 for Min.
    static var sign: Double { get }
    /// The uniform value of a constant second input (see the type's documentation), or nil.
    var constant: Double? { get }
    init(constant: Double?)
}

extension ElementwiseExtremum {
    package static func make(_ node: NodeContext) throws -> Self {
        guard !node.inputShapes.isEmpty else { throw node.error("\(opType) needs at least one input") }
        var out = node.inputShapes[0]
        for s in node.inputShapes.dropFirst() {
            guard let b = Broadcast.shape(out, s) else {
                throw node.error("input shapes \(node.inputShapes) cannot be broadcast together", kind: .shape)
            }
            out = b
        }
        // max(x, c) with one value c that does not widen x.
        if node.inputShapes.count == 2, node.constantInputs[0] == nil, let c = node.constantInputs[1],
           let v = c.data.first, v.isFinite, c.data.allSatisfy({ $0 == v }), out == node.inputShapes[0] {
            return Self(constant: v)
        }
        return Self(constant: nil)
    }

    package static var representatives: [Self] { [Self(constant: 0), Self(constant: 1.5), Self(constant: -2)] }

    /// The extremum of two values; NaN propagates (as onnxruntime's Max and Min).
    @inline(__always)
    static func pick(_ a: Double, _ b: Double) -> Double {
        if a.isNaN || b.isNaN { return .nan }
        return sign > 0 ? Swift.max(a, b) : Swift.min(a, b)
    }

    /// max(x, c) (min(x, c)) with the captured constant; x itself without one.
    package func apply(_ x: Double) -> Double { constant.map { Self.pick(x, $0) } ?? x }
    /// 1 where x is strictly on the kept side of c, else 0.
    package func derivative(_ x: Double, _ y: Double) -> Double {
        guard let c = constant else { return 1 }
        return Self.sign * (x - c) > 0 ? 1 : 0
    }

    package func outputShape(_ s: [[Int]]) throws -> [Int] {
        guard !s.isEmpty else { throw ModelError(.invalidModel, "\(Self.opType) needs at least one input") }
        return try s.dropFirst().reduce(s[0]) { try ShapeCheck.broadcast($0, $1) }
    }

    /// With one input and a captured constant (the elementwise view, `apply`, that generic
    /// checks of `ElementwiseUnary` use) the extremum with the constant.
    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var y = inputs[0]
        if inputs.count == 1, constant != nil {
            for i in 0..<y.count { y.data[i] = apply(y.data[i]) }
            return y
        }
        for t in inputs.dropFirst() { y = try Broadcast.apply(y, t, Self.pick) }
        return y
    }

    /// The gradient goes to the first input attaining the extremum (a Clarke subgradient at ties).
    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let maps = inputs.map { Broadcast.indexMap(from: $0.shape, to: output.shape) }
        var g = inputs.map { Tensor(shape: $0.shape, repeating: 0) }
        for k in 0..<output.count {
            guard let i = inputs.indices.first(where: { inputs[$0].data[maps[$0][k]] == output.data[k] }) else { continue }
            g[i].data[maps[i][k]] += gradient.data[k]
        }
        return g
    }

    /// Exact: the extremum is monotone in every input.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        IntervalTensor(lower: try evaluate(x.map(\.lower)), upper: try evaluate(x.map(\.upper)))
    }

    /// Exact: [op(l, c), op(u, c)] (monotone).
    package func image(l: Double, u: Double) -> (Double, Double) { (apply(l), apply(u)) }
    /// The kink at the captured constant c strictly inside (l, u) (false without one: the
    /// several-variable form is bounded through its decomposition's ReLUs).
    package func crossesShapeChange(l: Double, u: Double) -> Bool { constant.map { l < $0 && $0 < u } ?? false }

    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        if constant != nil, constantInputs == [false, true] { return .elementwise }
        if constantInputs.count == 1 && constant == nil { return .affine }
        return .unsupported("\(Self.opType) of several variables is bounded through its decomposition (BoundDecomposition)")
    }

    /// The kink at c when it lies strictly inside (both strategies).
    package func branchingPoint(l: Double, u: Double, strategy: BranchingPointStrategy) -> Double? {
        guard let c = constant, l < c, c < u else { return nil }
        return c
    }

    /// max(z, c): the shifted ReLU (slopes 0 and 1 at (c, c)); min(z, c): slopes 1 and 0
    /// (`PiecewiseLinearEncoding.kinkAt`, one binary in `.exact` mode).
    package func piecewiseLinearEncoding(l: Double, u: Double, mode: PiecewiseLinearEncoding.Mode) -> PiecewiseLinearEncoding? {
        guard let c = constant else { return nil }
        return Self.sign > 0 ? .kinkAt(c, value: c, leftSlope: 0, rightSlope: 1, l: l, u: u, mode: mode)
                             : .kinkAt(c, value: c, leftSlope: 1, rightSlope: 0, l: l, u: u, mode: mode)
    }
}

/// ONNX `Max` (see `ElementwiseExtremum`). With a constant c: the ReLU relaxation of
/// max(x, c) = c + relu(x - c): constant c for u <= c, the identity for l >= c, else the chord
/// through (l, c) and (u, u) above (its limits for an infinite end) and the line through (c, c)
/// with slope p in [0, 1] below (p the lower parameter; default 1 when u - c > c - l).
package struct Max: ElementwiseExtremum {
    package static let opType = "Max"
    package static let sign = 1.0
    package let constant: Double?
    package init(constant: Double? = nil) { self.constant = constant }

    package func relaxation(l: Double, u: Double, lowerParameter: Double?, upperParameter: Double?) -> NeuronRelaxation {
        guard let c = constant else { return .constant(-.infinity, .infinity) }
        if l >= c { return .line(1, 0) }
        if u <= c { return .line(0, c) }
        // The slopes of the ReLU relaxation of x - c (its sign is exact in IEEE arithmetic);
        // the intercepts from the breakpoints (c + b - a c would cancel for a huge c).
        let r = Relu().relaxation(l: l - c, u: u - c, lowerParameter: lowerParameter, upperParameter: upperParameter)
        let points = [l, u, c]
        return NeuronRelaxation(aL: r.aL, bL: PiecewiseLinearIntercept.intercept(slope: r.aL, points: points, l: l, u: u, below: true, tailSlopes: (0, 1), apply),
                                aU: r.aU, bU: PiecewiseLinearIntercept.intercept(slope: r.aU, points: points, l: l, u: u, below: false, tailSlopes: (0, 1), apply))
    }

    package func defaultParameters(l: Double, u: Double) -> (lower: Double?, upper: Double?) {
        guard let c = constant, l < c, u > c else { return (nil, nil) }
        return Relu().defaultParameters(l: l - c, u: u - c)
    }
}

extension ElementwiseExtremum {
    /// Max (Min) of two or more inputs, some computed, without a captured constant: every input
    /// broadcast to the output shape (constants folded to their broadcast value) and combined by
    /// a balanced tree of max(a, b) = a + relu(b - a) (min(a, b) = a - relu(a - b)), so CROWN
    /// relaxes it with ReLU's triangle and branch and bound splits at the ties. nil (kept as is)
    /// for one input or the captured-constant form, which `relaxation` already covers.
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard constant == nil, shapes.count >= 2, variable.contains(true),
              let full = try? outputShape(shapes) else { return nil }
        var nodes: [Node] = [], ids: [Int] = []
        for (k, id) in node.inputs.enumerated() {
            if !variable[k], let c = builder.constants[id] {
                let map = Broadcast.indexMap(from: c.shape, to: full)
                ids.append(builder.constant("\(node.name)/input \(k) broadcast", Tensor(shape: full, data: map.map { c.data[$0] })))
            } else {
                let (sub, e) = builder.expanded(id, from: shapes[k], to: full, name: "\(node.name)/input \(k) broadcast")
                nodes += sub
                ids.append(e)
            }
        }
        return nodes + builder.extremum(of: ids, sign: Self.sign, shape: full, name: node.name, output: node.output)
    }
}

extension Max: BoundDecomposition {}
extension Min: BoundDecomposition {}

extension ElementwiseExtremum {
    /// A selection of one operand: exact in float32.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .exact }
}

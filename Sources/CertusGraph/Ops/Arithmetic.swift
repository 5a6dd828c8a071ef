import CertusTensor

// The four broadcasting arithmetic operators. Their evaluation is shared (ElementwiseBinary);
// each later analysis treats them differently (Add/Sub affine, Mul/Div by a constant affine,
// Mul of two variables McCormick), which is why each is its own type.

package struct Add: ElementwiseBinary {
    package static let opType = "Add"
    package init() {}
    package func apply(_ a: Double, _ b: Double) -> Double { a + b }
    package func partials(_ a: Double, _ b: Double) -> (Double, Double) { (1, 1) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        IntervalTensor(lower: try Broadcast.apply(x[0].lower, x[1].lower, +), upper: try Broadcast.apply(x[0].upper, x[1].upper, +))
    }
}

package struct Sub: ElementwiseBinary {
    package static let opType = "Sub"
    package init() {}
    package func apply(_ a: Double, _ b: Double) -> Double { a - b }
    package func partials(_ a: Double, _ b: Double) -> (Double, Double) { (1, -1) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind { .affine }
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        IntervalTensor(lower: try Broadcast.apply(x[0].lower, x[1].upper, -), upper: try Broadcast.apply(x[0].upper, x[1].lower, -))
    }
}

package struct Mul: ElementwiseBinary, ProductRelaxation {
    package static let opType = "Mul"
    /// For a product of two variables: the operand that acts as a bounded gate on the other
    /// (the activation derivative f'(z) in the Jacobian graph's f'(z) * adjoint), or nil.
    /// CROWN's default McCormick plane then puts the least weight on the gate
    /// (`BoundEngine.defaultPlaneMix`); every plane stays sound. Not an ONNX attribute.
    package var gate: Int? = nil
    package init() {}
    package init(gate: Int?) { self.gate = gate }
    package func apply(_ a: Double, _ b: Double) -> Double { a * b }
    package func partials(_ a: Double, _ b: Double) -> (Double, Double) { (b, a) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.contains(true) ? .affine : .bilinear
    }
    /// The four corner products.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        let corners = try [(x[0].lower, x[1].lower), (x[0].lower, x[1].upper), (x[0].upper, x[1].lower), (x[0].upper, x[1].upper)]
            .map { try Broadcast.apply($0.0, $0.1, *) }
        var lo = corners[0], hi = corners[0]
        for c in corners.dropFirst() {
            for i in 0..<lo.count { lo.data[i] = Swift.min(lo.data[i], c.data[i]); hi.data[i] = Swift.max(hi.data[i], c.data[i]) }
        }
        return IntervalTensor(lower: lo, upper: hi)
    }
}

extension Mul: BoundDecomposition {
    /// x * x (one value times itself) as Pow(x, 2), whose convex relaxation knows the square is
    /// never negative, where McCormick's planes for two operands do not. nil (kept) otherwise.
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard node.inputs.count == 2, node.inputs[0] == node.inputs[1], variable[0] else { return nil }
        let two = builder.constant("\(node.name)/2", Tensor(scalar: 2))
        return [Node(name: node.name, opType: Pow.opType, op: Pow(exponent: 2), inputs: [node.inputs[0], two], output: node.output)]
    }
}

package struct Div: ElementwiseBinary {
    package static let opType = "Div"
    package init() {}
    package func apply(_ a: Double, _ b: Double) -> Double { a / b }
    package func partials(_ a: Double, _ b: Double) -> (Double, Double) { (1 / b, -a / (b * b)) }
    package func boundKind(constantInputs: [Bool]) -> BoundKind {
        constantInputs.count == 2 && constantInputs[1] ? .affine : .unsupported("Div by a non-constant divisor has no linear relaxation")
    }
    /// a * [1/b]: the divisor's interval must exclude 0.
    package func interval(_ x: [IntervalTensor]) throws -> IntervalTensor {
        for i in 0..<x[1].lower.count where x[1].lower.data[i] <= 0 && x[1].upper.data[i] >= 0 {
            throw BoundError("Div: the divisor's interval [\(x[1].lower.data[i]), \(x[1].upper.data[i])] contains 0")
        }
        let recip = IntervalTensor(lower: x[1].upper.reshapedMap { 1 / $0 }, upper: x[1].lower.reshapedMap { 1 / $0 })
        return try Mul().interval([x[0], recip])
    }
}

extension Div: BoundDecomposition {
    /// Division by a computed divisor, a / b = a * (1/b): Reciprocal's relaxation on b (its
    /// interval must exclude 0, else IBP refuses the node, naming it) and then McCormick's planes
    /// for a computed dividend (both operands broadcast to the output shape first) or a constant
    /// scale for a constant one. nil (kept as is, affine) for a constant divisor.
    package func decomposition(_ node: Node, shapes: [[Int]], variable: [Bool], builder: inout SubgraphBuilder) -> [Node]? {
        guard variable.count == 2, variable[1], let full = try? outputShape(shapes) else { return nil }
        let name = node.name
        let r = builder.value("\(name)/reciprocal", shapes[1])
        var nodes = [Node(name: "\(name)/reciprocal", opType: Reciprocal.opType, op: Reciprocal(), inputs: [node.inputs[1]], output: r)]
        var a = node.inputs[0], rb = r
        if variable[0] {
            let ea = builder.expanded(a, from: shapes[0], to: full, name: "\(name)/dividend broadcast")
            let er = builder.expanded(r, from: shapes[1], to: full, name: "\(name)/reciprocal broadcast")
            nodes += ea.nodes + er.nodes
            (a, rb) = (ea.id, er.id)
        }
        nodes.append(Node(name: name, opType: Mul.opType, op: Mul(), inputs: [a, rb], output: node.output))
        return nodes
    }
}

extension Tensor {
    func reshapedMap(_ f: (Double) -> Double) -> Tensor { Tensor(shape: shape, data: data.map(f)) }
}

// MARK: - float32 semantics (`Float32Rounding`)

extension Add {
    /// One float32 addition per element: one rounding of |a| + |b|.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .sums(roundings: 1) }
}

extension Sub {
    /// One float32 subtraction per element: one rounding of |a| + |b|.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .sums(roundings: 1) }
}

extension Mul {
    /// One float32 multiplication per element: one rounding of |a b|.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .sums(roundings: 1) }
}

extension Div {
    /// One float32 division per element (by a constant: the engine decomposes a division by a
    /// variable into Reciprocal, which has no float32 model). A runtime that multiplies by a
    /// rounded reciprocal instead rounds twice, within `Float32Rounding.fusionSlack`.
    package func float32Rounding(inputShapes: [[Int]], constantInputs: [Bool]) -> Float32Rounding { .sums(roundings: 1) }
}

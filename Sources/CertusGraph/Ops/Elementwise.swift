import CertusTensor

/// An operator applied to each element of its single input. Conforming types give `apply`;
/// shape inference and evaluation come from here.
package protocol ElementwiseUnary: Operator {
    func apply(_ x: Double) -> Double
    /// f'(x), given x and y = f(x) (some derivatives are cheaper from y).
    func derivative(_ x: Double, _ y: Double) -> Double
    /// The interval image of [l, u] (l <= u, either end may be infinite): the exact
    /// [min f, max f] over the interval or a sound enclosure of it. Non-monotone functions must
    /// account for every interior extremum (and periodicity). IBP (`interval(_:)`) calls this
    /// for every element.
    ///
    /// There is deliberately no default: every operator states its own image, so a new
    /// non-monotone operator cannot silently inherit a monotone one. (A default in a protocol
    /// extension that is not a requirement is statically dispatched from other extension
    /// methods, which is how Sin, Cos and GeLU once lost their images.)
    func image(l: Double, u: Double) -> (Double, Double)
    /// Operator instances that together exercise every attribute branch of this operator, for
    /// the registry-driven soundness battery (`SoundnessTests`, `certus battery`).
    static var representatives: [Self] { get }
    /// Why f has no bounds on [l, u] (part of it lies outside f's domain: Log or Sqrt of a
    /// negative end, Reciprocal of an interval holding 0), or nil when [l, u] lies in the domain.
    /// IBP (`interval(_:)`) throws a `BoundError` with this reason (the engine adds the node's
    /// name), so that no bound is computed from NaN; `image` and the relaxation are only asked
    /// about intervals without a violation. Default nil (defined on the whole real line).
    func domainViolation(l: Double, u: Double) -> String?
    /// Whether a point where f changes shape (a kink, an inflection or an extremum, where a
    /// relaxation has the most to get wrong) lies strictly inside the finite interval (l, u).
    /// The soundness battery counts the intervals that cross one. Default false.
    func crossesShapeChange(l: Double, u: Double) -> Bool
}

/// Images of monotone functions, for operators' `image(l:u:)`.
package enum MonotoneImage {
    /// [f(l), f(u)] for a non-decreasing f.
    @inline(__always)
    package static func increasing(_ l: Double, _ u: Double, _ f: (Double) -> Double) -> (Double, Double) { (f(l), f(u)) }
}

/// An operator without attributes: `make` just checks there is nothing it would ignore.
package protocol AttributeFree: Operator {
    init()
}

extension AttributeFree {
    package static func make(_ node: NodeContext) throws -> Self { Self() }
    /// The one instance an attribute-free operator has.
    package static var representatives: [Self] { [Self()] }
}

extension ElementwiseUnary {
    package func domainViolation(l: Double, u: Double) -> String? { nil }
    package func crossesShapeChange(l: Double, u: Double) -> Bool { false }

    package func outputShape(_ inputShapes: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(inputShapes, 1...1, Self.opType)
        return inputShapes[0]
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        var out = inputs[0]
        for i in 0..<out.data.count { out.data[i] = apply(out.data[i]) }
        return out
    }

    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        var g = gradient
        let x = inputs[0].data, y = output.data
        for i in 0..<g.data.count { g.data[i] *= derivative(x[i], y[i]) }
        return [g]
    }
}

/// A numpy-broadcasting binary arithmetic operator.
package protocol ElementwiseBinary: Operator {
    init()
    func apply(_ a: Double, _ b: Double) -> Double
    /// (df/da, df/db) at (a, b).
    func partials(_ a: Double, _ b: Double) -> (Double, Double)
}

extension ElementwiseBinary {
    package static func make(_ node: NodeContext) throws -> Self {
        if node.opset < 7, case .int(1)? = node.attributes["broadcast"], node.attributes["axis"] != nil {
            throw node.unsupported("legacy broadcast with an 'axis' attribute (opset < 7) is not supported")
        }
        return Self()
    }

    package func outputShape(_ inputShapes: [[Int]]) throws -> [Int] {
        try ShapeCheck.count(inputShapes, 2...2, Self.opType)
        return try ShapeCheck.broadcast(inputShapes[0], inputShapes[1])
    }

    package func evaluate(_ inputs: [Tensor]) throws -> Tensor {
        try Broadcast.apply(inputs[0], inputs[1], apply)
    }

    package func backward(_ inputs: [Tensor], output: Tensor, gradient: Tensor) throws -> [Tensor?] {
        let a = inputs[0], b = inputs[1]
        let ma = Broadcast.indexMap(from: a.shape, to: output.shape)
        let mb = Broadcast.indexMap(from: b.shape, to: output.shape)
        var ga = Tensor(shape: a.shape, repeating: 0), gb = Tensor(shape: b.shape, repeating: 0)
        for k in 0..<gradient.count {
            let (da, db) = partials(a.data[ma[k]], b.data[mb[k]])
            ga.data[ma[k]] += gradient.data[k] * da   // broadcast dimensions are summed
            gb.data[mb[k]] += gradient.data[k] * db
        }
        return [ga, gb]
    }
}

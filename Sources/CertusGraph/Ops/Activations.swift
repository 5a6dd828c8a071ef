import Foundation
import CertusTensor

// Elementwise activations. Each type is where its interval bound, linear relaxation and
// derivative will live.

public struct Relu: ElementwiseUnary, AttributeFree {
    public static let opType = "Relu"
    public init() {}
    public func apply(_ x: Double) -> Double { x > 0 ? x : 0 }
    public func derivative(_ x: Double, _ y: Double) -> Double { x > 0 ? 1 : 0 }
}

public struct LeakyRelu: ElementwiseUnary {
    public static let opType = "LeakyRelu"
    public let alpha: Double
    public init(alpha: Double = 0.01) { self.alpha = alpha }
    public static func make(_ node: NodeContext) throws -> LeakyRelu {
        LeakyRelu(alpha: try node.float("alpha", default: 0.01))
    }
    public func apply(_ x: Double) -> Double { x >= 0 ? x : alpha * x }
    public func derivative(_ x: Double, _ y: Double) -> Double { x >= 0 ? 1 : alpha }
}

public struct Sigmoid: ElementwiseUnary, AttributeFree {
    public static let opType = "Sigmoid"
    public init() {}
    public func apply(_ x: Double) -> Double {
        // Stable on both tails.
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }
    public func derivative(_ x: Double, _ y: Double) -> Double { y * (1 - y) }
}

public struct Tanh: ElementwiseUnary, AttributeFree {
    public static let opType = "Tanh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.tanh(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { 1 - y * y }
}

public struct Gelu: ElementwiseUnary {
    public static let opType = "Gelu"
    /// ONNX `approximate`: "none" (exact, x * Phi(x)) or "tanh".
    public let tanhApproximation: Bool
    public init(tanhApproximation: Bool = false) { self.tanhApproximation = tanhApproximation }
    public static func make(_ node: NodeContext) throws -> Gelu {
        switch try node.string("approximate", default: "none") {
        case "none": return Gelu()
        case "tanh": return Gelu(tanhApproximation: true)
        case let other: throw node.error("attribute 'approximate' must be \"none\" or \"tanh\", got \"\(other)\"")
        }
    }
    public func apply(_ x: Double) -> Double {
        if tanhApproximation {
            return 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
        }
        return 0.5 * x * erfc(-x / 2.0.squareRoot())
    }
    public func derivative(_ x: Double, _ y: Double) -> Double {
        if tanhApproximation {
            let k = 0.7978845608028654, u = k * (x + 0.044715 * x * x * x)
            let t = Foundation.tanh(u)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        }
        // Phi(x) + x * phi(x)
        return 0.5 * erfc(-x / 2.0.squareRoot()) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
    }
}

public struct Erf: ElementwiseUnary, AttributeFree {
    public static let opType = "Erf"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.erf(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { 2 / Double.pi.squareRoot() * exp(-x * x) }
}

public struct Sin: ElementwiseUnary, AttributeFree {
    public static let opType = "Sin"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.sin(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { Foundation.cos(x) }
}

public struct Cos: ElementwiseUnary, AttributeFree {
    public static let opType = "Cos"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.cos(x) }
    public func derivative(_ x: Double, _ y: Double) -> Double { -Foundation.sin(x) }
}

public struct Neg: ElementwiseUnary, AttributeFree {
    public static let opType = "Neg"
    public init() {}
    public func apply(_ x: Double) -> Double { -x }
    public func derivative(_ x: Double, _ y: Double) -> Double { -1 }
}

public struct Identity: ElementwiseUnary, AttributeFree {
    public static let opType = "Identity"
    public init() {}
    public func apply(_ x: Double) -> Double { x }
    public func derivative(_ x: Double, _ y: Double) -> Double { 1 }
    public func evaluate(_ inputs: [Tensor]) throws -> Tensor { inputs[0] }
}

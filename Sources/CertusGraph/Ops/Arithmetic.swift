import CertusTensor

// The four broadcasting arithmetic operators. Their evaluation is shared (ElementwiseBinary);
// each later analysis treats them differently (Add/Sub affine, Mul/Div by a constant affine,
// Mul of two variables McCormick), which is why each is its own type.

public struct Add: ElementwiseBinary {
    public static let opType = "Add"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a + b }
    public func partials(_ a: Double, _ b: Double) -> (Double, Double) { (1, 1) }
}

public struct Sub: ElementwiseBinary {
    public static let opType = "Sub"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a - b }
    public func partials(_ a: Double, _ b: Double) -> (Double, Double) { (1, -1) }
}

public struct Mul: ElementwiseBinary {
    public static let opType = "Mul"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a * b }
    public func partials(_ a: Double, _ b: Double) -> (Double, Double) { (b, a) }
}

public struct Div: ElementwiseBinary {
    public static let opType = "Div"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a / b }
    public func partials(_ a: Double, _ b: Double) -> (Double, Double) { (1 / b, -a / (b * b)) }
}

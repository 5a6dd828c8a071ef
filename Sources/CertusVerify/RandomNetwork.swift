import Foundation
import CertusTensor
import CertusGraph
import CertusSpec

/// A small random network with a random input box, built for the soundness battery
/// (`SoundnessBattery`).
///
/// Every node is made the way the ONNX loader makes it: a `NodeContext` (attributes, input shapes,
/// constant inputs) handed to `OperatorRegistry.make`, the output shape from the operator, and
/// nodes whose inputs are all constant folded into constants (this is how `Constant` nodes
/// appear). The generator picks operators from its recipe table, at least one recipe per
/// registered op type (`RandomNetwork.recipeOpTypes`; Relu has a second one, the ReLU sum that
/// `PiecewiseLinearFusion` fuses), and keeps a node only when the family allows the operator's
/// `BoundKind` in that use (or, for the relaxable family, every node of its `BoundDecomposition`),
/// so a new operator joins the right families by what it declares.
///
/// Scales: weights and explicit gains make pre-activations span from tiny to several units
/// (Sin/Cos across several periods, GeLU across its minimum, S-shapes across their inflection);
/// box coordinates are tiny, narrow, medium or wide, and some are pinned (zero width). One
/// network in four has the `largeMagnitude` scale (`Scale`): pre-activations offset by 1e2 to
/// 1e6 or made of large terms that nearly cancel, and output weights of 1e2 to 1e3.
package struct RandomNetwork: Sendable {
    /// The magnitude of the values inside a network.
    package enum Scale: String, Sendable, CaseIterable, Codable {
        /// Pre-activations from almost nothing to many units, weights of order 1.
        case standard
        /// Every activation's input is `g x + s` with `s` putting the sampled range near an
        /// offset of 1e2 to 1e6 (either sign; Sin and Cos on both sides of the 1e6 limit of their
        /// half-period relaxations), or with a gain of 1e2 to 1e4 whose large terms cancel down
        /// to a range around the function's extremum, inflection or kink; half of the activations
        /// are followed by a constant weight of 1e2 to 1e3 (either sign), and so is half of the
        /// outputs. Relaxation lines at such inputs cancel terms of 1e6 to values of order 1,
        /// which rounding must not turn into a bound that is too tight (`RoundingGuard`).
        case largeMagnitude = "large-magnitude"
    }


    /// Which operators a network may contain.
    package enum Family: String, Sendable, CaseIterable, Codable {
        /// Every operator the generator knows (IBP bounds all of them).
        case general
        /// Operators with a linear relaxation (`BoundKind` other than `.unsupported`, or a
        /// `BoundDecomposition` into such operators): what CROWN, alpha-CROWN, input splitting
        /// and `bab` bound.
        case relaxable
        /// Affine operators and ReLU: what the LP/MILP encoding (`NetworkLP`) accepts, except
        /// LeakyReLU (which it also encodes), left out so that every seed keeps its network.
        case piecewiseLinear = "piecewise-linear"
    }

    /// The seed it was generated from.
    package var seed: UInt64
    package var family: Family
    /// The magnitude of its values (`standard` for networks given directly).
    package var scale: Scale
    /// The network (one input, one output).
    package var graph: Graph
    /// The input box (flattened, `graph.inputCount` coordinates; pinned coordinates have
    /// lower == upper).
    package var box: InputBox
    /// Op types of the computing nodes and of the folded constant nodes (`Constant`).
    package var opTypes: Set<String>
    /// One line per node: `v7 = Gemm(v3, c5) {transB: 1} -> [1, 4]`, for replaying a failure.
    package var listing: [String]

    /// A network given directly (for checking the battery itself on a hand-made graph).
    package init(seed: UInt64, family: Family, scale: Scale = .standard, graph: Graph, box: InputBox, listing: [String] = []) {
        self.init(seed: seed, family: family, scale: scale, graph: graph, box: box, opTypes: Set(graph.nodes.map(\.opType)), listing: listing)
    }

    init(seed: UInt64, family: Family, scale: Scale, graph: Graph, box: InputBox, opTypes: Set<String>, listing: [String]) {
        self.seed = seed; self.family = family; self.scale = scale; self.graph = graph; self.box = box
        self.opTypes = opTypes; self.listing = listing
    }

    /// Fraction of the networks with the `largeMagnitude` scale.
    package static let largeMagnitudeFraction = 0.25

    /// The op types the generator has a recipe for (each is emitted by some seeds of the
    /// `general` family; `BatteryTests` checks this covers `OperatorRegistry.supportedOpTypes`).
    package static var recipeOpTypes: Set<String> { Set(NetworkBuilder.recipes.map(\.opType)) }

    /// Generates the network of `seed` in `family`. Deterministic: the same seed and family give
    /// the same network, box and scale. The scale is drawn from its own stream, so a
    /// `standard` network is drawn exactly as before the scale existed except for GeLU's
    /// centring (same box; the box is drawn first so that gains and shifts can be placed from
    /// the values the box gives).
    package static func generate(seed: UInt64, family: Family) -> RandomNetwork {
        var scaleRNG = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D &+ familyTag(family) ^ 0x5CA1_E000_5CA1_E000)
        let scale: Scale = scaleRNG.nextUnit() < largeMagnitudeFraction ? .largeMagnitude : .standard
        var attempt: UInt64 = 0
        while true {
            let base = seed &* 0x2545_F491_4F6C_DD1D &+ familyTag(family) &+ attempt &* 0x9E37_79B9
            var builder = NetworkBuilder(rng: SplitMix64(seed: base), family: family, scale: scale,
                                         boxRNG: SplitMix64(seed: base ^ 0xB0C5_B0C5_B0C5_B0C5))
            if let net = try? builder.build() {
                return RandomNetwork(seed: seed, family: family, scale: scale, graph: net.graph, box: builder.box,
                                     opTypes: net.opTypes, listing: net.listing)
            }
            attempt += 1   // a recipe sequence that could not be completed: draw again
        }
    }

    static func familyTag(_ f: Family) -> UInt64 {
        switch f { case .general: return 1; case .relaxable: return 2; case .piecewiseLinear: return 3 }
    }

    /// A box with coordinates of random widths: pinned (10%, some at decimals that are not
    /// float32 values), tiny (1e-6 to 1e-3), narrow, medium and wide (up to 8).
    static func randomBox(count: Int, rng: inout SplitMix64) -> InputBox {
        var lo: [Double] = [], hi: [Double] = []
        for _ in 0..<count {
            let centre = rng.uniform(-2, 2)
            let r = rng.nextUnit()
            let width: Double
            if r < 0.10 {
                // pinned: usually a float32 value, sometimes a decimal (0.7) that is not one
                let v = rng.nextUnit() < 0.7 ? Double(Float(centre)) : (centre * 10).rounded() / 10
                lo.append(v); hi.append(v)
                continue
            } else if r < 0.22 {
                width = exp(rng.uniform(log(1e-6), log(1e-3)))
            } else if r < 0.50 {
                width = rng.uniform(0.01, 0.3)
            } else if r < 0.82 {
                width = rng.uniform(0.3, 2)
            } else {
                width = rng.uniform(2, 8)
            }
            lo.append(centre - width / 2); hi.append(centre + width / 2)
        }
        return InputBox(lower: lo, upper: hi)
    }
}

/// Thrown by a recipe that does not apply (shape, family) so that another is tried.
struct RecipeRejected: Error {}

/// Builds a graph node by node through `OperatorRegistry.make`, folding constant nodes.
struct GraphSketch {
    var values: [ValueInfo] = []
    var constants: [Int: Tensor] = [:]
    var nodes: [Node] = []
    var input = 0
    var opTypes: Set<String> = []
    var listing: [String] = []
    let family: RandomNetwork.Family

    init(family: RandomNetwork.Family) { self.family = family }

    func shape(_ v: Int) -> [Int] { values[v].shape }
    func count(_ v: Int) -> Int { values[v].shape.reduce(1, *) }

    mutating func addValue(_ name: String, _ shape: [Int]) -> Int {
        values.append(ValueInfo(name: name, shape: shape))
        return values.count - 1
    }

    mutating func addInput(_ shape: [Int]) -> Int {
        input = addValue("x", shape)
        listing.append("v\(input) = input \(shape)")
        return input
    }

    /// A constant tensor as an initializer.
    mutating func initializer(_ t: Tensor) -> Int {
        let id = addValue("c\(values.count)", t.shape)
        constants[id] = t
        return id
    }

    /// Adds a node built by the registry. Folded when every input is constant; refused
    /// (`RecipeRejected`) when the family does not allow the operator's bound kind here.
    /// `outputs` and `part`: a node of several outputs (`MultipleOutputs`, Split) computing its
    /// output `part` of `outputs`, as the loader makes one node per used output.
    @discardableResult
    mutating func node(_ opType: String, _ inputs: [Int], _ attributes: [String: AttributeValue] = [:], opset: Int = 13,
                       outputs: Int = 1, part: Int = 0) throws -> Int {
        let shapes = inputs.map { values[$0].shape }
        let ctx = NodeContext(name: "n\(nodes.count)_\(opType)", opType: opType, opset: opset, attributes: attributes,
                              inputShapes: shapes, constantInputs: inputs.map { constants[$0] }, outputCount: outputs)
        var op = try OperatorRegistry.make(ctx)
        if let multi = op as? any MultipleOutputs {
            guard part < multi.outputCount else { throw RecipeRejected() }
            op = multi.output(part)
        }
        let outShape = try op.outputShape(shapes)
        guard outShape.allSatisfy({ $0 > 0 }) else { throw RecipeRejected() }
        // Folded like the loader folds: all inputs constant, or an operator that reads only shapes.
        let shapeFunction = op as? any ShapeFunction
        let folded = shapeFunction != nil || inputs.allSatisfy { constants[$0] != nil }
        if !folded {
            let kind = op.boundKind(constantInputs: inputs.map { constants[$0] != nil })
            switch family {
            case .general: break
            case .relaxable:
                if case .unsupported = kind, !relaxableByDecomposition(Node(name: ctx.name, opType: opType, op: op, inputs: inputs, output: values.count),
                                                                         outputShape: outShape) { throw RecipeRejected() }
            case .piecewiseLinear:
                // ReLU-shaped activations only (LeakyReLU, Abs would be encodable too, but admitting
                // them reshuffles every seed's network; see the family's doc).
                guard kind == .affine || (op as? any ElementwiseRelaxation)?.isReluShaped == true else { throw RecipeRejected() }
            }
        }
        let id = addValue("v\(values.count)", outShape)
        let attrText = attributes.isEmpty ? "" : " {" + attributes.sorted { $0.key < $1.key }.map { "\($0.key): \(Self.describe($0.value))" }.joined(separator: ", ") + "}"
        let args = inputs.map { constants[$0] != nil ? "c\($0)\(values[$0].shape)" : "v\($0)" }.joined(separator: ", ")
        if folded {
            let v = try shapeFunction?.value(inputShapes: shapes) ?? op.evaluate(inputs.map { constants[$0]! })
            guard v.shape == outShape else { throw RecipeRejected() }
            constants[id] = v
            listing.append("c\(id) = \(opType)(\(args))\(attrText) -> \(outShape) (folded)")
        } else {
            nodes.append(Node(name: ctx.name, opType: opType, op: op, inputs: inputs, output: id))
            let partText = outputs > 1 ? " output \(part) of \(outputs)" : ""
            listing.append("v\(id) = \(opType)(\(args))\(attrText)\(opset == 13 ? "" : " opset \(opset)")\(partText) -> \(outShape)")
        }
        opTypes.insert(opType)
        return id
    }

    /// Whether the bound engine relaxes `node` (of an operator without a relaxation of its own)
    /// through its decomposition (`BoundDecomposition`: MaxPool, LayerNormalization, Max of two
    /// variables, ReduceMax over several elements): every node it expands into has a relaxation.
    func relaxableByDecomposition(_ node: Node, outputShape: [Int]) -> Bool {
        guard node.op is any BoundDecomposition else { return false }
        let g = Graph(values: values + [ValueInfo(name: "probe", shape: outputShape)], constants: constants, nodes: [node],
                      input: input, outputs: [node.output], metadata: ModelMetadata())
        let expanded = BoundDecompositions.expand(g)   // the node itself when it gives no decomposition
        return expanded.nodes.allSatisfy { n in
            if case .unsupported = n.op.boundKind(constantInputs: n.inputs.map { expanded.constants[$0] != nil }) { return false }
            return true
        }
    }

    static func describe(_ a: AttributeValue) -> String {
        switch a {
        case .int(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .string(let s): return "\"\(s)\""
        case .ints(let v): return "\(v)"
        case .floats(let v): return "\(v)"
        case .strings(let v): return "\(v)"
        case .tensor(let t): return "tensor\(t.shape)"
        case .unsupported(let s): return s
        }
    }

    /// The graph computing `output`, without the nodes it does not depend on (as the loader does).
    func graph(output: Int) -> Graph {
        var needed: Set<Int> = [output]
        var kept: [Node] = []
        for n in nodes.reversed() where needed.contains(n.output) {
            kept.append(n)
            needed.formUnion(n.inputs)
        }
        return Graph(values: values, constants: constants, nodes: kept.reversed(), input: input, outputs: [output], metadata: ModelMetadata())
    }
}

/// The random construction: a current value, a pool of earlier values (for skip connections and
/// products), and one recipe per operator applied a few times.
struct NetworkBuilder {
    var rng: SplitMix64
    var sketch: GraphSketch
    var current = 0
    var pool: [Int] = []
    /// Largest element count kept for a hidden value (bigger ones are reduced by a Gemm).
    let maxWidth = 16
    let scale: RandomNetwork.Scale
    /// The input box, drawn as soon as the input shape is known (from `boxRNG`).
    var box = InputBox(lower: [], upper: [])
    var boxRNG: SplitMix64
    /// Points of the box at which values are probed (`sampledRange`); its own stream.
    var probeRNG: SplitMix64

    init(rng: SplitMix64, family: RandomNetwork.Family, scale: RandomNetwork.Scale = .standard, boxRNG: SplitMix64) {
        self.rng = rng
        self.scale = scale
        self.boxRNG = boxRNG
        probeRNG = SplitMix64(seed: boxRNG.state ^ 0x9B0B_E000_9B0B_E000)
        sketch = GraphSketch(family: family)
    }

    /// The elementwise activations: drawn twice as often in `largeMagnitude` networks.
    static let activationOpTypes: Set<String> = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "Sin", "Cos"]

    func weight(_ r: Recipe) -> Double {
        scale == .largeMagnitude && Self.activationOpTypes.contains(r.opType) ? 2 * r.weight : r.weight
    }

    struct Recipe {
        var opType: String
        var weight: Double
        var apply: (inout NetworkBuilder) throws -> Void
    }

    /// One recipe per op type. Weights favour the nonlinear and affine operators.
    static let recipes: [Recipe] = [
        Recipe(opType: "Gemm", weight: 3) { try $0.gemm() },
        Recipe(opType: "MatMul", weight: 2) { try $0.matmul() },
        Recipe(opType: "Add", weight: 1.5) { try $0.binary("Add") },
        Recipe(opType: "Sub", weight: 1) { try $0.binary("Sub") },
        Recipe(opType: "Mul", weight: 1.5) { try $0.mul() },
        Recipe(opType: "Div", weight: 0.7) { try $0.div() },
        Recipe(opType: "Neg", weight: 0.4) { try $0.unary("Neg") },
        Recipe(opType: "Identity", weight: 0.3) { try $0.unary("Identity") },
        Recipe(opType: "Relu", weight: 3) { try $0.activation("Relu") },
        Recipe(opType: "LeakyRelu", weight: 1) { b in
            let alpha = [0.01, 0.1, 0.5, 2.0, -0.3][b.int(0...4)]
            try b.activation("LeakyRelu", ["alpha": .float(alpha)])
        },
        Recipe(opType: "Sigmoid", weight: 1) { try $0.activation("Sigmoid") },
        Recipe(opType: "Tanh", weight: 1) { try $0.activation("Tanh") },
        Recipe(opType: "Gelu", weight: 1) { b in
            let tanh = !b.rng.nextBool()
            try b.activation("Gelu", tanh ? ["approximate": .string("tanh")] : [:],
                             target: tanh ? Gelu.argminTanh : Gelu.argmin, centreOften: true)
        },
        Recipe(opType: "Erf", weight: 1) { b in
            if b.rng.nextBool() { try b.geluErfPattern() } else { try b.activation("Erf") }
        },
        Recipe(opType: "Sin", weight: 1.5) { try $0.activation("Sin", target: .pi / 2) },
        Recipe(opType: "Cos", weight: 1.5) { try $0.activation("Cos", target: 0) },
        Recipe(opType: "Conv", weight: 1.2) { try $0.conv() },
        Recipe(opType: "BatchNormalization", weight: 0.6) { try $0.batchNorm() },
        Recipe(opType: "AveragePool", weight: 0.6) { try $0.averagePool() },
        Recipe(opType: "Flatten", weight: 0.4) { try $0.flatten() },
        Recipe(opType: "Reshape", weight: 0.5) { try $0.reshape() },
        Recipe(opType: "Transpose", weight: 0.5) { try $0.transpose() },
        Recipe(opType: "Squeeze", weight: 0.4) { try $0.squeeze() },
        Recipe(opType: "Unsqueeze", weight: 0.4) { try $0.unsqueeze() },
        Recipe(opType: "Concat", weight: 0.6) { try $0.concat() },
        Recipe(opType: "Constant", weight: 0.3) { try $0.addConstantNode() },
        Recipe(opType: "Softmax", weight: 0.5) { try $0.softmax() },
        Recipe(opType: "Shape", weight: 0.3) { try $0.staticShapeReshape() },
        Recipe(opType: "Gather", weight: 0.6) { try $0.gather() },
        // Issue 14: the operators added after the battery's first seeds, at lower weights so
        // that the classic ones above still make up about three quarters of the draws.
        Recipe(opType: "Relu", weight: 0.8) { try $0.reluSum() },
        Recipe(opType: "Abs", weight: 0.5) { try $0.activation("Abs") },
        Recipe(opType: "Exp", weight: 0.3) { try $0.exponential() },
        Recipe(opType: "Log", weight: 0.3) { b in b.current = try b.positive(b.current); try b.unary("Log") },
        Recipe(opType: "Sqrt", weight: 0.3) { b in b.current = try b.positive(b.current); try b.unary("Sqrt") },
        Recipe(opType: "Reciprocal", weight: 0.3) { try $0.reciprocal() },
        Recipe(opType: "Pow", weight: 0.4) { try $0.power() },
        Recipe(opType: "Clip", weight: 0.4) { try $0.clip() },
        Recipe(opType: "Max", weight: 0.4) { try $0.extremum("Max") },
        Recipe(opType: "Min", weight: 0.4) { try $0.extremum("Min") },
        Recipe(opType: "Floor", weight: 0.2) { try $0.activation("Floor", target: 0.5) },
        Recipe(opType: "Sign", weight: 0.2) { try $0.activation("Sign") },
        Recipe(opType: "ReduceMax", weight: 0.25) { try $0.reduce("ReduceMax", inputOpset: 18) },
        Recipe(opType: "ReduceMin", weight: 0.25) { try $0.reduce("ReduceMin", inputOpset: 18) },
        Recipe(opType: "ReduceSum", weight: 0.25) { try $0.reduce("ReduceSum", inputOpset: 13) },
        Recipe(opType: "ReduceMean", weight: 0.25) { try $0.reduce("ReduceMean", inputOpset: 18) },
        Recipe(opType: "MaxPool", weight: 0.4) { try $0.maxPool() },
        Recipe(opType: "GlobalAveragePool", weight: 0.25) { b in try b.toImage(); try b.unary("GlobalAveragePool") },
        Recipe(opType: "LayerNormalization", weight: 0.3) { try $0.layerNorm() },
        Recipe(opType: "Dropout", weight: 0.15) { try $0.dropout() },
        Recipe(opType: "Slice", weight: 0.3) { try $0.slice() },
        Recipe(opType: "Expand", weight: 0.2) { try $0.expand() },
        Recipe(opType: "Tile", weight: 0.2) { try $0.tile() },
        Recipe(opType: "Pad", weight: 0.25) { try $0.pad() },
        Recipe(opType: "Split", weight: 0.3) { try $0.split() },
        Recipe(opType: "ConstantOfShape", weight: 0.15) { try $0.constantOfShape() },
        Recipe(opType: "Cast", weight: 0.15) { try $0.cast() },
        Recipe(opType: "Range", weight: 0.15) { try $0.range() },
        Recipe(opType: "Where", weight: 0.15) { b in try b.whereNode(comparison: b.pick(NetworkBuilder.comparisons)) },
        Recipe(opType: "Equal", weight: 0.1) { try $0.whereNode(comparison: "Equal") },
        Recipe(opType: "Less", weight: 0.1) { try $0.whereNode(comparison: "Less") },
        Recipe(opType: "Greater", weight: 0.1) { try $0.whereNode(comparison: "Greater") },
        Recipe(opType: "LessOrEqual", weight: 0.1) { try $0.whereNode(comparison: "LessOrEqual") },
        Recipe(opType: "GreaterOrEqual", weight: 0.1) { try $0.whereNode(comparison: "GreaterOrEqual") },
        Recipe(opType: "Not", weight: 0.1) { b in try b.whereNode(comparison: b.pick(NetworkBuilder.comparisons), negated: true) },
    ]

    // MARK: Random helpers

    mutating func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(rng.next() % UInt64(r.upperBound - r.lowerBound + 1))
    }
    mutating func chance(_ p: Double) -> Bool { rng.nextUnit() < p }
    mutating func logUniform(_ a: Double, _ b: Double) -> Double { exp(rng.uniform(log(a), log(b))) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }

    /// Uniform weights of scale `gain / sqrt(fanIn)` (gain log-uniform in [0.3, 4] unless given).
    mutating func weights(_ shape: [Int], fanIn: Int, gain: Double? = nil) -> Tensor {
        let g = gain ?? logUniform(0.3, 4)
        let s = g / Double(max(1, fanIn)).squareRoot() * 3.0.squareRoot()
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, data: (0..<n).map { _ in rng.uniform(-s, s) })
    }
    mutating func values(_ shape: [Int], _ lo: Double, _ hi: Double) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.uniform(lo, hi) })
    }

    /// A constant operand: usually an initializer, sometimes a folded `Constant` node.
    mutating func constant(_ t: Tensor) throws -> Int {
        guard chance(0.25) else { return sketch.initializer(t) }
        if t.count == 1 && t.shape.isEmpty && chance(0.5) {
            return try sketch.node("Constant", [], ["value_float": .float(t.data[0])])
        }
        return try sketch.node("Constant", [], ["value": .tensor(t)])
    }

    /// Shapes the operand of a broadcasting operator may take against `s`.
    mutating func broadcastShape(_ s: [Int]) -> [Int] {
        switch int(0...3) {
        case 0: return []
        case 1: return s.isEmpty ? [] : [s.last!]
        case 2: return s.isEmpty ? [] : Array(repeating: 1, count: s.count - 1) + [s.last!]
        default: return s
        }
    }

    var shape: [Int] { sketch.shape(current) }
    var count: Int { sketch.count(current) }

    mutating func set(_ v: Int) {
        pool.append(current)
        current = v
    }

    // MARK: Shape adapters

    /// Reshapes the current value to [1, n].
    mutating func toRow() throws {
        if shape.count == 2 && shape[0] == 1 { return }
        let shapeConst = sketch.initializer(Tensor(shape: [2], data: [1, -1]))
        current = try sketch.node("Reshape", [current, shapeConst])
    }

    /// Reshapes the current value to a 4-D [1, C, H, W] image.
    mutating func toImage() throws {
        if shape.count == 4 && shape[0] == 1 { return }
        let n = count
        let divisors = (1...n).filter { n % $0 == 0 }
        let c = pick(divisors), rest = n / c
        let hs = (1...rest).filter { rest % $0 == 0 }
        let h = pick(hs)
        let target = Tensor(shape: [4], data: [1, Double(c), Double(h), Double(rest / h)])
        current = try sketch.node("Reshape", [current, sketch.initializer(target)])
    }

    /// A variable value of exactly `target`'s shape made from an earlier value (or the current
    /// one): reshaped to a row, mapped by a random Gemm, reshaped back.
    mutating func partner(for target: Int) throws -> Int {
        let want = sketch.shape(target)
        let candidates = pool + [current]
        var v = pick(candidates)
        if sketch.shape(v) == want && chance(0.6) { return v }
        if sketch.shape(v).count != 2 || sketch.shape(v)[0] != 1 {
            v = try sketch.node("Reshape", [v, sketch.initializer(Tensor(shape: [2], data: [1, -1]))])
        }
        let k = sketch.count(v), m = want.reduce(1, *)
        let w = sketch.initializer(weights([k, m], fanIn: k))
        let b = sketch.initializer(values([m], -1, 1))
        v = try sketch.node("Gemm", [v, w, b])
        if want != [1, m] {
            v = try sketch.node("Reshape", [v, sketch.initializer(Tensor(shape: [want.count], data: want.map(Double.init)))])
        }
        return v
    }

    /// Makes the current value small again (Gemm to at most 6 outputs) when it grew too large.
    mutating func reduceIfWide() throws {
        guard count > maxWidth else { return }
        try toRow()
        let k = count, m = int(1...6)
        let w = sketch.initializer(weights([k, m], fanIn: k))
        set(try sketch.node("Gemm", [current, w, sketch.initializer(values([m], -1, 1))]))
    }

    // MARK: Recipes

    mutating func gemm() throws {
        if shape.count != 2 { try toRow() }
        let (d0, k) = (shape[0], shape[1])
        let m = int(1...6)
        if chance(0.2) {
            // Constant A times the variable: Y = A X^T (transB), shape [m, d0].
            let a = sketch.initializer(weights([m, k], fanIn: k))
            var attrs: [String: AttributeValue] = ["transB": .int(1)]
            if chance(0.5) { attrs["alpha"] = .float(rng.uniform(-2, 2)) }
            set(try sketch.node("Gemm", [a, current], attrs))
            return
        }
        let transB = chance(0.4)
        let w = sketch.initializer(weights(transB ? [m, k] : [k, m], fanIn: k))
        var attrs: [String: AttributeValue] = [:]
        if transB { attrs["transB"] = .int(1) }
        if chance(0.25) { attrs["alpha"] = .float(rng.uniform(-2, 2)) }
        var inputs = [current, w]
        if chance(0.85) {
            let cShape = pick([[m], [1, m], [d0, m], []])
            inputs.append(try constant(values(cShape, -2, 2)))
            if chance(0.25) { attrs["beta"] = .float(rng.uniform(-2, 2)) }
        }
        set(try sketch.node("Gemm", inputs, attrs))
    }

    mutating func matmul() throws {
        let s = shape
        let k = s.last ?? 1
        let m = int(1...5)
        if s.count >= 2 && chance(0.25) {
            // Constant on the left: W [m, rows] @ X [..., rows, k].
            let rows = s[s.count - 2]
            let w = sketch.initializer(weights([m, rows], fanIn: rows))
            set(try sketch.node("MatMul", [w, current]))
        } else if chance(0.2) && s.count >= 1 {
            // 1-D right operand: X [..., k] @ w [k] -> [...].
            let w = sketch.initializer(weights([k], fanIn: k))
            set(try sketch.node("MatMul", [current, w]))
        } else {
            let w = sketch.initializer(weights([k, m], fanIn: k))
            set(try sketch.node("MatMul", [current, w]))
        }
    }

    /// Add or Sub with a broadcast constant (either side) or with another variable value.
    mutating func binary(_ op: String) throws {
        if chance(0.4) {
            let other = try partner(for: current)
            set(try sketch.node(op, chance(0.5) ? [current, other] : [other, current]))
        } else {
            let c = try constant(values(broadcastShape(shape), -3, 3))
            set(try sketch.node(op, chance(0.7) ? [current, c] : [c, current]))
        }
    }

    /// Mul by a broadcast constant (gains up to 6, either sign) or of two variables (bilinear,
    /// including x * x); in half of the products both operands are first shifted so that their
    /// ranges hold 0 (where McCormick's planes are loosest and a sign error would show).
    mutating func mul() throws {
        if chance(0.45) {
            let square = chance(0.2), centre = chance(0.5)
            if centre { try centredPreActivation(target: 0, gain: (rng.nextBool() ? 1 : -1) * logUniform(0.5, 2), offset: 0) }
            var other = square ? current : (try partner(for: current))
            if centre && !square { other = try centred(other, target: 0, gain: 1, offset: 0) }
            set(try sketch.node("Mul", [current, other]))
        } else {
            let cs = broadcastShape(shape)
            let n = cs.reduce(1, *)
            let t = Tensor(shape: cs, data: (0..<n).map { _ in (rng.nextBool() ? 1 : -1) * logUniform(0.1, 6) })
            let c = try constant(t)
            set(try sketch.node("Mul", chance(0.5) ? [current, c] : [c, current]))
        }
    }

    /// Div by a constant of either sign, |c| in [0.2, 5].
    mutating func div() throws {
        let cs = broadcastShape(shape)
        let n = cs.reduce(1, *)
        let t = Tensor(shape: cs, data: (0..<n).map { _ in (rng.nextBool() ? 1 : -1) * logUniform(0.2, 5) })
        set(try sketch.node("Div", [current, try constant(t)]))
    }

    mutating func unary(_ op: String) throws { set(try sketch.node(op, [current])) }

    /// An elementwise activation, often after an explicit gain and shift so its input spans
    /// several units (several periods for Sin/Cos). `target` is where the function changes shape
    /// (a crest, the minimum, the inflection or kink); with `centreOften` (GeLU) most explicit
    /// shifts put it inside the input's range. In `largeMagnitude` networks every activation gets
    /// a large pre-activation (`largePreActivation`) and half are followed by a weight of 1e2 to 1e3.
    mutating func activation(_ op: String, _ attrs: [String: AttributeValue] = [:], target: Double = 0, centreOften: Bool = false) throws {
        try preActivation(target: target, centreOften: centreOften)
        set(try sketch.node(op, [current], attrs))
        if scale == .largeMagnitude && chance(0.5) { try largeWeight() }
    }

    /// The explicit gain and shift in front of an activation (see `activation`).
    mutating func preActivation(target: Double, centreOften: Bool) throws {
        if scale == .largeMagnitude { try largePreActivation(target: target); return }
        guard chance(0.5) else { return }
        if centreOften && chance(0.7) {
            try centredPreActivation(target: target, gain: (rng.nextBool() ? 1 : -1) * logUniform(0.5, 8), offset: 0)
            return
        }
        let g = sketch.initializer(Tensor(shape: [], data: [(rng.nextBool() ? 1 : -1) * logUniform(0.5, 8)]))
        let shift = sketch.initializer(values(broadcastShape(shape), -4, 4))
        current = try sketch.node("Add", [try sketch.node("Mul", [current, g]), shift])
    }

    /// Per element, the smallest and largest value of `v` at 24 points of the box (centre,
    /// lower and upper corner, uniform points), or nil when the values are not finite.
    mutating func sampledRange(_ v: Int) -> (lo: [Double], hi: [Double])? {
        let g = sketch.graph(output: v)
        var pts = [zip(box.lower, box.upper).map { ($0 + $1) / 2 }, box.lower, box.upper]
        while pts.count < 24 { pts.append(zip(box.lower, box.upper).map { probeRNG.uniform($0, $1) }) }
        var lo: [Double] = [], hi: [Double] = []
        for x in pts {
            guard let y = try? g.evaluateFirst(x), y.allSatisfy(\.isFinite) else { return nil }
            if lo.isEmpty { lo = y; hi = y; continue }
            for j in y.indices { lo[j] = min(lo[j], y[j]); hi[j] = max(hi[j], y[j]) }
        }
        return lo.isEmpty ? nil : (lo, hi)
    }

    /// current <- g * current + shift, with a shift per element that puts `target + offset` at a
    /// random point (15% to 85%) of the element's sampled range times g: with offset 0 the
    /// activation's input crosses `target` wherever the element varies over the box.
    mutating func centredPreActivation(target: Double, gain g: Double, offset: Double) throws {
        current = try centred(current, target: target, gain: g, offset: offset)
    }

    /// g * v + shift as a new value (see `centredPreActivation`).
    mutating func centred(_ v: Int, target: Double, gain g: Double, offset: Double) throws -> Int {
        guard let (lo, hi) = sampledRange(v) else { throw RecipeRejected() }
        let shift = Tensor(shape: sketch.shape(v), data: lo.indices.map { j in target + offset - g * (lo[j] + rng.uniform(0.15, 0.85) * (hi[j] - lo[j])) })
        let gain = sketch.initializer(Tensor(shape: [], data: [g]))
        return try sketch.node("Add", [try sketch.node("Mul", [v, gain]), sketch.initializer(shift)])
    }

    /// Large pre-activations (`Scale.largeMagnitude`): either a moderate gain (0.3 to 8) and an
    /// offset of 1e2 to 1e6 (either sign) from `target`, or a gain of 1e2 to 1e4 (at most 1e8 over
    /// the largest sampled |value|) with the large terms cancelling to a range around `target`.
    mutating func largePreActivation(target: Double) throws {
        let sign: Double = rng.nextBool() ? 1 : -1
        if chance(0.6) {
            try centredPreActivation(target: target, gain: sign * logUniform(0.3, 8), offset: (rng.nextBool() ? 1 : -1) * logUniform(1e2, 1e6))
        } else {
            let top = (sampledRange(current).map { r in zip(r.lo, r.hi).map { max(abs($0), abs($1)) }.max() ?? 1 }) ?? 1
            let g = sign * min(logUniform(1e2, 1e4), 1e8 / max(top, 1e-300))
            try centredPreActivation(target: target, gain: g, offset: 0)
        }
    }

    /// current <- current * w with a constant w of 1e2 to 1e3 in magnitude (either sign, broadcast).
    mutating func largeWeight() throws {
        let cs = broadcastShape(shape)
        let t = Tensor(shape: cs, data: (0..<cs.reduce(1, *)).map { _ in (rng.nextBool() ? 1 : -1) * logUniform(1e2, 1e3) })
        set(try sketch.node("Mul", [current, try constant(t)]))
    }

    /// GeLU in its exported Erf form, x * 0.5 * (1 + erf(x / sqrt 2)), which the bound engine
    /// fuses into one Gelu node (`GeluFusion`); both association orders.
    mutating func geluErfPattern() throws {
        try preActivation(target: Gelu.argmin, centreOften: true)
        let x = current
        let scaled: Int
        if chance(0.5) {
            scaled = try sketch.node("Div", [x, sketch.initializer(Tensor(scalar: 2.0.squareRoot()))])
        } else {
            scaled = try sketch.node("Mul", [x, sketch.initializer(Tensor(scalar: 1 / 2.0.squareRoot()))])
        }
        let e = try sketch.node("Erf", [scaled])
        let onePlus = try sketch.node("Add", [e, sketch.initializer(Tensor(scalar: 1))])
        if chance(0.5) {
            let m = try sketch.node("Mul", [x, onePlus])
            set(try sketch.node("Mul", [m, sketch.initializer(Tensor(scalar: 0.5))]))
        } else {
            let half = try sketch.node("Mul", [x, sketch.initializer(Tensor(scalar: 0.5))])
            set(try sketch.node("Mul", [half, onePlus]))
        }
    }

    mutating func conv() throws {
        try toImage()
        let s = shape
        let c = s[1], h = s[2], w = s[3]
        let groups = (1...c).filter { c % $0 == 0 }
        let group = chance(0.3) ? pick(groups) : 1
        let m = group * int(1...max(1, 3 / group))
        let kh = int(1...min(3, h + 1)), kw = int(1...min(3, w + 1))
        var attrs: [String: AttributeValue] = [:]
        if group > 1 { attrs["group"] = .int(group) }
        if chance(0.5) { attrs["pads"] = .ints([int(0...1), int(0...1), int(0...1), int(0...1)]) }
        if chance(0.3) { attrs["strides"] = .ints([int(1...2), int(1...2)]) }
        if chance(0.2) { attrs["dilations"] = .ints([int(1...2), int(1...2)]) }
        if chance(0.15) { attrs["pads"] = nil; attrs["auto_pad"] = .string(pick(["SAME_UPPER", "SAME_LOWER", "VALID"])) }
        if chance(0.3) { attrs["kernel_shape"] = .ints([kh, kw]) }
        let wt = sketch.initializer(weights([m, c / group, kh, kw], fanIn: c / group * kh * kw))
        var inputs = [current, wt]
        if chance(0.7) { inputs.append(sketch.initializer(values([m], -2, 2))) }
        set(try sketch.node("Conv", inputs, attrs))
    }

    mutating func batchNorm() throws {
        if shape.count < 2 { try toRow() }
        let c = shape[1]
        let scale = Tensor(shape: [c], data: (0..<c).map { _ in (chance(0.8) ? 1 : -1) * logUniform(0.2, 4) })
        let inputs = [current, sketch.initializer(scale), sketch.initializer(values([c], -2, 2)),
                      sketch.initializer(values([c], -2, 2)), sketch.initializer(values([c], 0.05, 3))]
        set(try sketch.node("BatchNormalization", inputs, chance(0.5) ? ["epsilon": .float(logUniform(1e-5, 0.1))] : [:]))
    }

    /// The current value as an image and a pooling window on it: a kernel of 1 to 3 per axis,
    /// pads below the kernel, strides of 1 or 2 (attributes of AveragePool and MaxPool).
    mutating func poolingWindow() throws -> [String: AttributeValue] {
        try toImage()
        let h = shape[2], w = shape[3]
        let kh = int(1...min(3, h + 1)), kw = int(1...min(3, w + 1))
        var attrs: [String: AttributeValue] = ["kernel_shape": .ints([kh, kw])]
        if chance(0.5) { attrs["pads"] = .ints([int(0...min(1, kh - 1)), int(0...min(1, kw - 1)), int(0...min(1, kh - 1)), int(0...min(1, kw - 1))]) }
        if chance(0.4) { attrs["strides"] = .ints([int(1...2), int(1...2)]) }
        return attrs
    }

    mutating func averagePool() throws {
        var attrs = try poolingWindow()
        if chance(0.4) { attrs["count_include_pad"] = .int(1) }
        if chance(0.2) { attrs["ceil_mode"] = .int(1) }
        set(try sketch.node("AveragePool", [current], attrs))
    }

    mutating func flatten() throws {
        let r = shape.count
        set(try sketch.node("Flatten", [current], ["axis": .int(int(0...r) - (chance(0.2) ? r : 0))]))
    }

    mutating func reshape() throws {
        let n = count
        let divisors = (1...n).filter { n % $0 == 0 }
        let target: [Double]
        switch int(0...3) {
        case 0: target = [-1]
        case 1: target = [1, -1]
        case 2:
            let a = pick(divisors)
            target = [Double(a), -1]
        default:
            let a = pick(divisors)
            let bs = (1...(n / a)).filter { (n / a) % $0 == 0 }
            target = [1, Double(a), Double(pick(bs)), -1]
        }
        set(try sketch.node("Reshape", [current, sketch.initializer(Tensor(shape: [target.count], data: target))]))
    }

    mutating func transpose() throws {
        let r = shape.count
        guard r >= 2 else { throw RecipeRejected() }
        if chance(0.3) { set(try sketch.node("Transpose", [current])); return }
        var perm = Array(0..<r)
        for i in stride(from: r - 1, to: 0, by: -1) { perm.swapAt(i, int(0...i)) }
        set(try sketch.node("Transpose", [current], ["perm": .ints(perm)]))
    }

    mutating func squeeze() throws {
        let ones = shape.indices.filter { shape[$0] == 1 }
        guard !ones.isEmpty, ones.count < shape.count || chance(0.3) else { throw RecipeRejected() }
        let axes = ones.filter { _ in chance(0.6) }.map { chance(0.3) ? $0 - shape.count : $0 }
        if axes.isEmpty || chance(0.2) {
            set(try sketch.node("Squeeze", [current]))
        } else if chance(0.5) {
            set(try sketch.node("Squeeze", [current, sketch.initializer(Tensor(shape: [axes.count], data: axes.map(Double.init)))]))
        } else {
            set(try sketch.node("Squeeze", [current], ["axes": .ints(axes)], opset: 11))
        }
    }

    mutating func unsqueeze() throws {
        guard shape.count <= 4 else { throw RecipeRejected() }
        let axis = int(0...shape.count)
        if chance(0.5) {
            set(try sketch.node("Unsqueeze", [current, sketch.initializer(Tensor(shape: [1], data: [Double(axis)]))]))
        } else {
            set(try sketch.node("Unsqueeze", [current], ["axes": .ints([axis])], opset: 11))
        }
    }

    /// Concat of the current value with another variable value or a constant, along a random axis.
    mutating func concat() throws {
        let s = shape
        guard !s.isEmpty else { throw RecipeRejected() }
        let axis = int(0...(s.count - 1))
        var other: Int
        if chance(0.5) {
            var os = s
            os[axis] = int(1...2)
            other = try constant(values(os, -3, 3))
        } else {
            other = try partner(for: current)
        }
        let inputs = chance(0.5) ? [current, other] : [other, current]
        set(try sketch.node("Concat", inputs, ["axis": .int(chance(0.3) ? axis - s.count : axis)]))
    }

    /// A `Constant` node folded into an initializer, added to the current value.
    mutating func addConstantNode() throws {
        let t = values(broadcastShape(shape), -2, 2)
        let c = try sketch.node("Constant", [], t.shape.isEmpty && chance(0.5) ? ["value_float": .float(t.data[0])]
                                                 : ["value": .tensor(t)])
        set(try sketch.node("Add", [current, c]))
    }

    mutating func softmax() throws {
        let r = shape.count
        guard r >= 1 else { throw RecipeRejected() }
        if chance(0.3) {
            set(try sketch.node("Softmax", [current], ["axis": .int(int(0...(r - 1)))], opset: 11))
        } else {
            set(try sketch.node("Softmax", [current], ["axis": .int(int(0...(r - 1)) - (chance(0.5) ? r : 0))]))
        }
    }

    /// The static-shape pattern of `x.view(x.size(0), -1)` exports: Shape -> Gather ->
    /// Unsqueeze -> Concat -> Reshape, all folded at load since every shape is static.
    mutating func staticShapeReshape() throws {
        let r = shape.count
        guard r >= 1 else { throw RecipeRejected() }
        var attrs: [String: AttributeValue] = [:]
        if chance(0.3) { attrs["start"] = .int(0); attrs["end"] = .int(1) }
        let shp = try sketch.node("Shape", [current], attrs, opset: attrs.isEmpty ? 13 : 15)
        let first = try sketch.node("Gather", [shp, sketch.initializer(Tensor(scalar: 0))], ["axis": .int(0)])
        let dim = try sketch.node("Unsqueeze", [first, sketch.initializer(Tensor(shape: [1], data: [0]))])
        let target = try sketch.node("Concat", [dim, sketch.initializer(Tensor(shape: [1], data: [-1]))], ["axis": .int(0)])
        set(try sketch.node("Reshape", [current, target]))
    }

    /// Gather of the current value along a random axis by constant indices (negative and
    /// repeated ones included, scalar or 1-D or 2-D indices).
    mutating func gather() throws {
        let s = shape
        guard !s.isEmpty else { throw RecipeRejected() }
        let axis = int(0...(s.count - 1))
        let dim = s[axis]
        let ishape = pick([[], [int(1...3)], [int(1...2), int(1...2)]])
        let n = ishape.reduce(1, *)
        let idx = (0..<n).map { _ -> Double in
            let i = int(0...(dim - 1))
            return Double(chance(0.3) ? i - dim : i)
        }
        let ind = sketch.initializer(Tensor(shape: ishape, data: idx))
        set(try sketch.node("Gather", [current, ind], ["axis": .int(chance(0.3) ? axis - s.count : axis)]))
    }

    // MARK: Build

    /// 1-6 inputs as a row, a vector or a small image; 2-6 recipes; a small output.
    mutating func build() throws -> (graph: Graph, opTypes: Set<String>, listing: [String]) {
        let n = int(1...6)
        let inputShape: [Int]
        switch int(0...9) {
        case 0...4: inputShape = [1, n]
        case 5: inputShape = [n]
        default:
            let cs = (1...n).filter { n % $0 == 0 }
            let c = pick(cs), rest = n / c
            let hs = (1...rest).filter { rest % $0 == 0 }
            let h = pick(hs)
            inputShape = [1, c, h, rest / h]
        }
        current = sketch.addInput(inputShape)
        box = RandomNetwork.randomBox(count: inputShape.reduce(1, *), rng: &boxRNG)
        let steps = int(2...6)
        let total = Self.recipes.reduce(0) { $0 + weight($1) }
        var done = 0, tries = 0
        while done < steps {
            tries += 1
            if tries > 200 { throw RecipeRejected() }
            var r = rng.uniform(0, total)
            var recipe = Self.recipes[0]
            for c in Self.recipes { r -= weight(c); if r <= 0 { recipe = c; break } }
            let saved = self
            do {
                try recipe.apply(&self)
                try reduceIfWide()
                done += 1
            } catch {
                let keep = rng
                self = saved
                rng = keep   // keep the generator moving so the next draw differs
            }
        }
        // A small output: at most 8 elements.
        if count > 8 {
            try toRow()
            let k = count, m = int(1...4)
            current = try sketch.node("Gemm", [current, sketch.initializer(weights([k, m], fanIn: k)), sketch.initializer(values([m], -1, 1))])
        }
        // Large output weights.
        if scale == .largeMagnitude && chance(0.5) { try largeWeight() }
        guard !sketch.nodes.isEmpty, sketch.constants[current] == nil else { throw RecipeRejected() }
        return (sketch.graph(output: current), sketch.opTypes, sketch.listing)
    }
}

// MARK: Recipes of issue 14

extension NetworkBuilder {
    /// The comparisons, applied to constants only (folded, as at load).
    static let comparisons = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]

    /// The overall sampled range of `v` (smallest and largest element over the probes).
    mutating func overallRange(_ v: Int) throws -> (lo: Double, hi: Double) {
        guard let (lo, hi) = sampledRange(v), let a = lo.min(), let b = hi.max() else { throw RecipeRejected() }
        return (a, b)
    }

    /// g v + shift with the sampled range of each element mapped to at most `span` units
    /// around `target` (the gain log-uniform in [0.3, 3], smaller for wide values).
    mutating func spanned(_ v: Int, target: Double, span: Double) throws -> Int {
        let (lo, hi) = try overallRange(v)
        let g = (rng.nextBool() ? 1 : -1) * Swift.min(logUniform(0.3, 3), span / Swift.max(hi - lo, 1e-9))
        return try centred(v, target: target, gain: g, offset: 0)
    }

    /// A value made positive from `v` (the domain of Log, Sqrt, fractional and negative powers):
    /// a per-element shift lifting the sampled minimum by 0.3 to 1.5 times the sampled width
    /// plus 0.01 to 2 (the bounds may still reach 0, which the methods must refuse, not get
    /// wrong), or a nonnegative function plus 0.01 to 2 (Relu, Abs, a scaled Sigmoid).
    mutating func positive(_ v: Int) throws -> Int {
        let c = sketch.initializer(Tensor(scalar: logUniform(0.01, 2)))
        switch int(0...3) {
        case 0, 1:
            guard let (lo, hi) = sampledRange(v) else { throw RecipeRejected() }
            let shift = Tensor(shape: sketch.shape(v), data: lo.indices.map { j in
                -lo[j] + (hi[j] - lo[j]) * rng.uniform(0.3, 1.5) + logUniform(0.01, 2)
            })
            return try sketch.node("Add", [v, sketch.initializer(shift)])
        case 2:
            return try sketch.node("Add", [try sketch.node(chance(0.5) ? "Relu" : "Abs", [v]), c])
        default:
            let s = sketch.initializer(Tensor(scalar: logUniform(0.5, 5)))
            return try sketch.node("Add", [try sketch.node("Mul", [try sketch.node("Sigmoid", [v]), s]), c])
        }
    }

    /// Exp of an input spanning at most 6 units around -3 to 1 (no overflow, values up to ~1e3).
    mutating func exponential() throws {
        current = try spanned(current, target: rng.uniform(-3, 1), span: 6)
        try unary("Exp")
    }

    /// 1/x of an input away from 0, positive or negative.
    mutating func reciprocal() throws {
        current = try positive(current)
        if chance(0.4) { current = try sketch.node("Neg", [current]) }
        try unary("Reciprocal")
    }

    /// x^p for a few constant exponents: integer ones on any input (spanning a few units around
    /// 0), the others on a positive input; mostly one exponent (relaxed elementwise), sometimes
    /// a tensor of them (IBP only).
    mutating func power() throws {
        let p = pick([2.0, 3, 4, 0.5, 1.5, -1, -0.5, -2])
        let integral = p > 0 && p == p.rounded()
        current = integral ? try spanned(current, target: 0, span: 4) : try positive(current)
        let exponent: Tensor
        switch int(0...9) {
        case 0...5: exponent = Tensor(scalar: p)
        case 6, 7: exponent = Tensor(shape: [1], data: [p])
        case 8:
            let cs = broadcastShape(shape)
            exponent = Tensor(shape: cs, repeating: p)
        default:
            // Different exponents per element (a positive base keeps every one in its domain).
            if integral { current = try positive(current) }
            let cs = broadcastShape(shape)
            exponent = Tensor(shape: cs, data: (0..<cs.reduce(1, *)).map { _ in pick([2.0, 0.5, -1, 3]) })
        }
        set(try sketch.node("Pow", [current, try constant(exponent)]))
    }

    /// Clip with bounds inside the sampled range (so both kinks are crossed), as opset 11+
    /// inputs (max sometimes omitted) or opset 6 attributes; sometimes min > max.
    mutating func clip() throws {
        let (lo, hi) = try overallRange(current)
        let w = Swift.max(hi - lo, 1e-6)
        var a = lo + rng.uniform(-0.1, 0.7) * w
        var b = a + rng.uniform(0.05, 0.8) * w
        if chance(0.05) { swap(&a, &b) }
        if chance(0.3) {
            set(try sketch.node("Clip", [current], ["min": .float(a), "max": .float(b)], opset: 6))
        } else if chance(0.2) {
            set(try sketch.node("Clip", [current, try constant(Tensor(scalar: a))]))
        } else {
            set(try sketch.node("Clip", [current, try constant(Tensor(scalar: a)), try constant(Tensor(scalar: b))]))
        }
    }

    /// Max or Min with one constant inside the sampled range (elementwise relaxation), with a
    /// constant that varies across elements, or of two or three variables (the decomposition
    /// into ReLUs of differences).
    mutating func extremum(_ op: String) throws {
        let (lo, hi) = try overallRange(current)
        switch int(0...9) {
        case 0...3:
            let c = lo + rng.uniform(0.1, 0.9) * (hi - lo)
            set(try sketch.node(op, [current, try constant(Tensor(scalar: c))]))
        case 4, 5:
            let t = values(broadcastShape(shape), lo, Swift.max(hi, lo + 1e-3))
            let c = try constant(t)
            set(try sketch.node(op, chance(0.7) ? [current, c] : [c, current]))
        default:
            var inputs = [current, try centred(try partner(for: current), target: 0, gain: 1, offset: 0)]
            if chance(0.2) { inputs.append(try partner(for: current)) }
            if chance(0.1) { inputs.append(sketch.initializer(values(broadcastShape(shape), -1, 1))) }
            set(try sketch.node(op, inputs))
        }
    }

    /// ReduceSum/Mean/Max/Min over a random set of axes (or all), keepdims either way; axes as
    /// an attribute before `inputOpset`, an input from it (sometimes the identity with
    /// `noop_with_empty_axes`).
    mutating func reduce(_ op: String, inputOpset: Int) throws {
        let r = shape.count
        guard r >= 1 else { throw RecipeRejected() }
        var axes = (0..<r).filter { _ in chance(0.5) }
        if axes.isEmpty && chance(0.7) { axes = [int(0...(r - 1))] }
        let signed = axes.map { chance(0.3) ? $0 - r : $0 }
        var attrs: [String: AttributeValue] = [:]
        if chance(0.4) { attrs["keepdims"] = .int(0) }
        if chance(0.5) {
            if !signed.isEmpty { attrs["axes"] = .ints(signed) }
            set(try sketch.node(op, [current], attrs, opset: inputOpset - 1))
        } else {
            if signed.isEmpty && chance(0.3) { attrs["noop_with_empty_axes"] = .int(1) }
            let inputs = signed.isEmpty && chance(0.5) ? [current]
                : [current, sketch.initializer(Tensor(shape: [signed.count], data: signed.map(Double.init)))]
            set(try sketch.node(op, inputs, attrs, opset: inputOpset))
        }
    }

    /// MaxPool on an image (`poolingWindow`, dilations, ceil mode).
    mutating func maxPool() throws {
        var attrs = try poolingWindow()
        if chance(0.2) { attrs["dilations"] = .ints([int(1...2), int(1...2)]) }
        if chance(0.2) { attrs["ceil_mode"] = .int(1) }
        set(try sketch.node("MaxPool", [current], attrs, opset: 12))
    }

    /// LayerNormalization over the last axis (sometimes the last two), epsilon 1e-5 to 0.1,
    /// a constant scale of either sign and usually a bias.
    mutating func layerNorm() throws {
        if shape.isEmpty || shape.last == 1 { try toRow() }
        let r = shape.count
        let axis = r >= 2 && chance(0.2) ? r - 2 : r - 1
        let normalised = Array(shape[axis...])
        let scaleShape = chance(0.7) ? normalised : [shape[r - 1]]
        let sc = Tensor(shape: scaleShape, data: (0..<scaleShape.reduce(1, *)).map { _ in (chance(0.8) ? 1 : -1) * logUniform(0.2, 3) })
        var inputs = [current, sketch.initializer(sc)]
        if chance(0.7) { inputs.append(sketch.initializer(values(scaleShape, -1, 1))) }
        var attrs: [String: AttributeValue] = ["epsilon": .float(logUniform(1e-5, 0.1))]
        if axis != r - 1 || chance(0.5) { attrs["axis"] = .int(chance(0.5) ? axis - r : axis) }
        set(try sketch.node("LayerNormalization", inputs, attrs, opset: 17))
    }

    /// Dropout at inference: alone, with a ratio, with training_mode false; or opset 7's ratio attribute.
    mutating func dropout() throws {
        switch int(0...3) {
        case 0: set(try sketch.node("Dropout", [current]))
        case 1: set(try sketch.node("Dropout", [current, sketch.initializer(Tensor(scalar: rng.uniform(0, 0.9)))]))
        case 2: set(try sketch.node("Dropout", [current, sketch.initializer(Tensor(scalar: 0.5)), sketch.initializer(Tensor(scalar: 0))]))
        default: set(try sketch.node("Dropout", [current], ["ratio": .float(rng.uniform(0, 0.9))], opset: 7))
        }
    }

    /// Slice along one to all axes: positive and negative starts and ends (ends past the axis
    /// too), steps of +-1 and +-2; inputs (opset 13; axes and steps sometimes omitted) or opset 9
    /// attributes.
    mutating func slice() throws {
        let s = shape
        guard !s.isEmpty else { throw RecipeRejected() }
        let useAxes = chance(0.7)
        let chosen = useAxes ? (0..<s.count).filter { _ in chance(0.6) } : Array(0..<int(1...s.count))
        guard !chosen.isEmpty else { throw RecipeRejected() }
        var starts: [Int] = [], ends: [Int] = [], steps: [Int] = []
        for a in chosen {
            let d = s[a]
            let step = chance(0.7) ? 1 : pick([2, -1, -2])
            let st = int(0...(d - 1))
            var en: Int
            if step > 0 {
                en = int((st + 1)...d)
                if en == d && chance(0.4) { en = pick([d + 3, 1_000_000_000]) } else if chance(0.3) { en -= d }
            } else {
                en = int(-1...(st - 1))
                if en == -1 { en = pick([-d - 1, -1_000_000_000]) } else if chance(0.3) { en -= d }
            }
            starts.append(chance(0.3) ? st - d : st); ends.append(en); steps.append(step)
        }
        let axes = chosen.map { chance(0.3) ? $0 - s.count : $0 }
        func vec(_ v: [Int]) -> Int { sketch.initializer(Tensor(shape: [v.count], data: v.map(Double.init))) }
        if steps.allSatisfy({ $0 == 1 }) && chance(0.3) {
            set(try sketch.node("Slice", [current], ["starts": .ints(starts), "ends": .ints(ends)].merging(useAxes ? ["axes": .ints(axes)] : [:]) { a, _ in a }, opset: 9))
            return
        }
        var inputs = [current, vec(starts), vec(ends)]
        if useAxes || steps.contains(where: { $0 != 1 }) || chance(0.3) {
            inputs.append(vec(useAxes ? axes : Array(0..<chosen.count)))
            if steps.contains(where: { $0 != 1 }) || chance(0.3) { inputs.append(vec(steps)) }
        }
        set(try sketch.node("Slice", inputs))
    }

    /// Expand to a larger shape: a size-1 axis widened to 2 or 3, a new leading axis, or a
    /// shorter target of ones (no change).
    mutating func expand() throws {
        var target = shape
        switch int(0...2) {
        case 0:
            let ones = target.indices.filter { target[$0] == 1 }
            guard !ones.isEmpty else { throw RecipeRejected() }
            target[pick(ones)] = int(2...3)
        case 1: target = [int(2...3)] + target.map { _ in 1 }
        default: target = Array(repeating: 1, count: int(0...target.count))
        }
        guard target.reduce(1, *) * count <= 64 else { throw RecipeRejected() }
        set(try sketch.node("Expand", [current, sketch.initializer(Tensor(shape: [target.count], data: target.map(Double.init)))]))
    }

    /// Tile with 1 to 3 repeats per axis (at most 48 elements out).
    mutating func tile() throws {
        let reps = shape.map { _ in chance(0.6) ? 1 : int(2...3) }
        guard !reps.isEmpty, count * reps.reduce(1, *) <= 48 else { throw RecipeRejected() }
        set(try sketch.node("Tile", [current, sketch.initializer(Tensor(shape: [reps.count], data: reps.map(Double.init)))]))
    }

    /// Constant padding (negative pads crop) as opset 11 inputs (value sometimes omitted; opset
    /// 18 axes sometimes) or opset 2 attributes.
    mutating func pad() throws {
        let s = shape
        guard !s.isEmpty else { throw RecipeRejected() }
        var begins = s.map { _ in chance(0.5) ? 0 : int(-1...2) }, ends = s.map { _ in chance(0.5) ? 0 : int(-1...2) }
        for a in s.indices where s[a] + begins[a] + ends[a] < 1 { begins[a] = 0; ends[a] = 0 }
        let value = chance(0.4) ? 0 : rng.uniform(-2, 2)
        switch int(0...5) {
        case 0:
            set(try sketch.node("Pad", [current], ["pads": .ints(begins + ends), "value": .float(value)], opset: 2))
        case 1:
            // opset 18: pads for some axes only
            let axes = s.indices.filter { begins[$0] != 0 || ends[$0] != 0 || chance(0.3) }
            guard !axes.isEmpty else { throw RecipeRejected() }
            let pads = axes.map { begins[$0] } + axes.map { ends[$0] }
            set(try sketch.node("Pad", [current, sketch.initializer(Tensor(shape: [pads.count], data: pads.map(Double.init))),
                                        sketch.initializer(Tensor(scalar: value)),
                                        sketch.initializer(Tensor(shape: [axes.count], data: axes.map { Double(chance(0.3) ? $0 - s.count : $0) }))],
                                opset: 18))
        default:
            var inputs = [current, sketch.initializer(Tensor(shape: [2 * s.count], data: (begins + ends).map(Double.init)))]
            if value != 0 || chance(0.5) { inputs.append(try constant(Tensor(scalar: value))) }
            set(try sketch.node("Pad", inputs, opset: 13))
        }
    }

    /// Split along an axis into 2 or 3 parts (sizes as input, attribute or equal parts); one
    /// part goes on, or two of equal shape are combined (Add, Sub, Mul, Max).
    mutating func split() throws {
        let s = shape
        let axes = s.indices.filter { s[$0] >= 2 }
        guard !axes.isEmpty else { throw RecipeRejected() }
        let axis = pick(axes), d = s[axis]
        let n = int(2...min(3, d))
        var sizes: [Int]
        var cuts = Set<Int>()
        while cuts.count < n - 1 { cuts.insert(int(1...(d - 1))) }
        let bounds = [0] + cuts.sorted() + [d]
        sizes = (0..<n).map { bounds[$0 + 1] - bounds[$0] }
        let attrAxis: [String: AttributeValue] = ["axis": .int(chance(0.3) ? axis - s.count : axis)]
        let x = current
        var ids: [Int] = []
        let mode = d % n == 0 ? int(0...2) : int(0...1)
        for k in 0..<n {
            switch mode {
            case 0:
                ids.append(try sketch.node("Split", [x, sketch.initializer(Tensor(shape: [n], data: sizes.map(Double.init)))], attrAxis,
                                           outputs: n, part: k))
            case 1:
                ids.append(try sketch.node("Split", [x], attrAxis.merging(["split": .ints(sizes)]) { a, _ in a }, opset: 11, outputs: n, part: k))
            default:
                ids.append(try sketch.node("Split", [x], attrAxis, outputs: n, part: k))
            }
        }
        let same = ids.indices.filter { sketch.shape(ids[$0]) == sketch.shape(ids[0]) }
        if same.count >= 2 && chance(0.5) {
            set(try sketch.node(pick(["Add", "Sub", "Mul", "Max"]), [ids[same[1]], ids[same[0]]]))
        } else {
            set(pick(ids))
        }
    }

    /// A tensor of one value shaped like the current value (ConstantOfShape of its folded
    /// Shape, or of a constant shape that broadcasts), added to or multiplied with it.
    mutating func constantOfShape() throws {
        let v = (rng.nextBool() ? 1 : -1) * logUniform(0.2, 3)
        let shp = chance(0.6) ? try sketch.node("Shape", [current])
                              : sketch.initializer(Tensor(shape: [1], data: [Double(shape.last ?? 1)]))
        let c = try sketch.node("ConstantOfShape", [shp], ["value": .tensor(Tensor(shape: [1], data: [v]))], opset: 9)
        set(try sketch.node(chance(0.5) ? "Add" : "Mul", [current, c]))
    }

    /// Cast of the current value to FLOAT or DOUBLE (the identity on computed values), or of a
    /// constant to an integer or boolean type (folded) that then shifts the current value.
    mutating func cast() throws {
        if chance(0.5) {
            set(try sketch.node("Cast", [current], ["to": .int(pick([1, 11]))]))
        } else {
            let t = values(broadcastShape(shape), -3, 3)
            let c = try sketch.node("Cast", [sketch.initializer(t)], ["to": .int(pick([6, 7, 3, 9]))])
            set(try sketch.node("Add", [current, c]))
        }
    }

    /// A Range(start, limit, delta) of constants (folded) the length of the last axis, scaled
    /// and added to the current value.
    mutating func range() throws {
        let n = shape.last ?? 1
        let start = Double(int(-3...3)), delta = pick([1.0, -1, 0.5, -0.5, 2])
        let r = try sketch.node("Range", [sketch.initializer(Tensor(scalar: start)),
                                          sketch.initializer(Tensor(scalar: start + (Double(n) - 0.5) * delta)),
                                          sketch.initializer(Tensor(scalar: delta))], opset: 11)
        let scaled = try sketch.node("Mul", [r, sketch.initializer(Tensor(scalar: rng.uniform(-0.5, 0.5)))])
        set(try sketch.node("Add", chance(0.5) ? [current, scaled] : [scaled, current]))
    }

    /// Where(condition, a, b) with a condition computed from constants by `comparison` (folded,
    /// as the loader folds it; `negated`: through Not), choosing between the current value and a
    /// constant or another variable value.
    mutating func whereNode(comparison: String, negated: Bool = false) throws {
        let cs = broadcastShape(shape)
        let n = cs.reduce(1, *)
        func small() -> Tensor { Tensor(shape: cs, data: (0..<n).map { _ in Double(int(-1...1)) }) }
        let a = try constant(small()), b = chance(0.3) ? try constant(Tensor(scalar: Double(int(-1...1)))) : sketch.initializer(small())
        var cond = try sketch.node(comparison, [a, b], opset: 13)
        if negated { cond = try sketch.node("Not", [cond]) }
        let other = chance(0.5) ? try constant(values(broadcastShape(shape), -2, 2)) : try partner(for: current)
        set(try sketch.node("Where", chance(0.5) ? [cond, current, other] : [cond, other, current], opset: 16))
    }

    /// A one-variable piecewise-linear function written as a sum of ReLUs, the pattern the
    /// bound engine fuses into one `PiecewiseLinear` node (`PiecewiseLinearFusion`):
    /// `Unsqueeze(x, -1) - t -> Relu -> MatMul(m) (+ c)`, with K = 1 to 40 breakpoints t spread
    /// over (and a little beyond) x's sampled range, some repeated, and slope changes m of both
    /// signs; in a third of them a saturating sigmoid-like sum (total slope ~0).
    mutating func reluSum() throws {
        let (lo, hi) = try overallRange(current)
        let w = Swift.max(hi - lo, 1e-3)
        let k = int(1...40)
        var ts: [Double] = [], ms: [Double] = []
        if k >= 3 && chance(0.35) {
            // Secants of h * sigmoid((x - centre) / s) between sorted breakpoints; slope 0 outside.
            let sorted = (0..<k).map { _ in rng.uniform(lo - 0.1 * w, hi + 0.1 * w) }.sorted()
            let centre = rng.uniform(lo, hi), s = w * logUniform(0.05, 0.5), h = (rng.nextBool() ? 1 : -1) * logUniform(0.5, 3)
            func f(_ x: Double) -> Double { h / (1 + Foundation.exp(-(x - centre) / s)) }
            var previous = 0.0
            for (i, t) in sorted.enumerated() {
                let next = i + 1 < k && sorted[i + 1] > t ? (f(sorted[i + 1]) - f(t)) / (sorted[i + 1] - t) : (i + 1 < k ? previous : 0)
                ts.append(t); ms.append(next - previous)
                previous = next
            }
            if chance(0.5) {
                // Model order differs from sorted order.
                let order = (0..<k).map { ($0, rng.next()) }.sorted { $0.1 < $1.1 }.map(\.0)
                ts = order.map { ts[$0] }; ms = order.map { ms[$0] }
            }
        } else {
            for i in 0..<k {
                if i > 0 && chance(0.15) { ts.append(ts[int(0...(i - 1))]) } else { ts.append(rng.uniform(lo - 0.2 * w, hi + 0.2 * w)) }
                ms.append((rng.nextBool() ? 1 : -1) * logUniform(0.1, 2) / Double(k).squareRoot())
            }
        }
        let x = current
        let u: Int
        switch int(0...2) {
        case 0: u = try sketch.node("Unsqueeze", [x, sketch.initializer(Tensor(shape: [1], data: [-1]))])
        case 1: u = try sketch.node("Unsqueeze", [x, sketch.initializer(Tensor(shape: [1], data: [Double(shape.count)]))])
        default: u = try sketch.node("Unsqueeze", [x], ["axes": .ints([-1])], opset: 11)
        }
        let tShape = chance(0.8) ? [k] : Array(repeating: 1, count: int(0...shape.count)) + [k]
        let d = try sketch.node("Sub", [u, sketch.initializer(Tensor(shape: tShape, data: ts))])
        let r = try sketch.node("Relu", [d])
        var y = try sketch.node("MatMul", [r, sketch.initializer(Tensor(shape: [k], data: ms))])
        if chance(0.7) {
            let c = sketch.initializer(Tensor(scalar: rng.uniform(-2, 2)))
            y = try sketch.node("Add", chance(0.7) ? [y, c] : [c, y])
        }
        set(y)
    }
}

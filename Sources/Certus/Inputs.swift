import Foundation
import CertusGraph
import CertusONNX
import CertusSpec
import CertusLipschitz

extension Certus {
    /// A neural network to analyse: a model file, read when an analysis starts, or a graph
    /// already loaded.
    ///
    /// Model files are binary ONNX (`.onnx`) or ONNX-style JSON (`.json`, protobuf's JSON
    /// mapping of `ModelProto`). The model's first input and first output are analysed,
    /// flattened row-major (a `[1, 5]` input has 5 coordinates).
    public struct Model: Sendable {
        enum Source: Sendable { case file(String), graph(Graph) }
        let source: Source
        /// How the model is named in messages: its path, or the name given with a graph.
        public let name: String

        /// The model file at `path` (relative paths resolve against the current directory),
        /// read by each analysis that uses it. To read it once for several analyses, use `load`.
        public static func file(_ path: String) -> Model { Model(source: .file(path), name: path) }

        /// Reads the model file at `path` now.
        /// - Throws: `CertusError` of kind `.model` (unreadable or malformed file, the node and
        ///   attribute named) or `.unsupported` (an operator or feature Certus does not handle).
        public static func load(_ path: String) throws -> Model {
            Model(source: .graph(try CertusError.wrapping(model: path) { try ModelFile.load(path) }), name: path)
        }

        /// A graph already in memory (`name` is used in messages).
        package init(graph: Graph, name: String = "model") {
            source = .graph(graph)
            self.name = name
        }

        init(source: Source, name: String) { self.source = source; self.name = name }

        /// The graph: loaded from the file (each call), or the one given.
        /// - Throws: `CertusError` as `load` does.
        package func graph() throws -> Graph {
            switch source {
            case .graph(let g): return g
            case .file(let path): return try CertusError.wrapping(model: path) { try ModelFile.load(path) }
            }
        }
    }

    /// An input region: a box, an L-infinity ball (optionally clipped to a valid input range), or
    /// the input box(es) of a spec file. Coordinates are the model's flattened first input.
    public struct Region: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            case box(InputBox)
            case ball(center: [Double], epsilon: Double, clip: ClosedRange<Double>?)
            case file(String)
        }
        let kind: Kind

        /// The box `lower[i] <= x_i <= upper[i]` (equal ends pin a coordinate).
        public static func box(lower: [Double], upper: [Double]) -> Region { Region(kind: .box(InputBox(lower: lower, upper: upper))) }

        /// The L-infinity ball `|x_i - center[i]| <= epsilon`, intersected with `clip` when given
        /// (for example `0...1` for pixel intensities), as in a JSON robustness spec.
        public static func ball(center: [Double], epsilon: Double, clip: ClosedRange<Double>? = nil) -> Region {
            Region(kind: .ball(center: center, epsilon: epsilon, clip: clip))
        }

        /// The region of a file: a JSON spec `{"center": [...], "epsilon": e[, "clip": [lo, hi]]}`
        /// (a `label` is ignored) or a VNN-LIB file's input box(es) (its output constraints are
        /// ignored).
        public static func file(_ path: String) -> Region { Region(kind: .file(path)) }

        /// The region's input boxes (one, except for a VNN-LIB file with several).
        /// - Throws: `CertusError` of kind `.spec` naming the file or the place (an empty or
        ///   non-finite box, a negative epsilon, an unreadable file, with its line).
        public func boxes() throws -> [InputBox] {
            try CertusError.wrapping {
                switch kind {
                case .box(let b):
                    try Region.check(b, source: "Certus.Region.box")
                    return [b]
                case .ball(let c, let e, let clip):
                    return [try RobustnessSpec(center: c, epsilon: e, label: 0, clip: clip, source: "Certus.Region.ball").box()]
                case .file(let path):
                    return try LipschitzRegion.load(path: path)
                }
            }
        }

        var source: String {
            switch kind {
            case .box: return "Certus.Region.box"
            case .ball: return "Certus.Region.ball"
            case .file(let p): return p
            }
        }

        static func check(_ b: InputBox, source: String) throws {
            guard b.lower.count == b.upper.count else {
                throw SpecError(kind: .invalidSpec, file: source, message: "lower has \(b.lower.count) values, upper \(b.upper.count)")
            }
            guard !b.lower.isEmpty else { throw SpecError(kind: .invalidSpec, file: source, message: "the box has no coordinates") }
            for i in b.lower.indices where !(b.lower[i].isFinite && b.upper[i].isFinite && b.lower[i] <= b.upper[i]) {
                throw SpecError(kind: .invalidSpec, file: source, message: "coordinate \(i): [\(b.lower[i]), \(b.upper[i])] is not a finite, non-empty interval")
            }
        }
    }

    /// A linear requirement on the model's outputs `y` (flattened first output), such as
    /// `y_0 >= 0.5` or `y_2 - y_1 >= 0`.
    ///
    /// Certus proves that the requirement holds **strictly** at every input of the region: a
    /// point where it holds with equality counts as a violation (VNN-LIB's atoms are non-strict,
    /// and this is their negation).
    public struct OutputConstraint: Sendable, Equatable {
        /// Whether the combination must stay at least or at most `bound`.
        public enum Relation: String, Sendable, Equatable { case atLeast = ">=", atMost = "<=" }
        /// Coefficient of each output index that appears (the others are 0).
        public var coefficients: [Int: Double]
        /// `>=` or `<=`.
        public var relation: Relation
        /// The right-hand side.
        public var bound: Double

        /// The requirement `sum_j coefficients[j] * y_j (relation) bound`.
        public init(coefficients: [Int: Double], _ relation: Relation, _ bound: Double) {
            self.coefficients = coefficients; self.relation = relation; self.bound = bound
        }
        /// `y_j >= value`.
        public static func output(_ j: Int, atLeast value: Double) -> OutputConstraint { .init(coefficients: [j: 1], .atLeast, value) }
        /// `y_j <= value`.
        public static func output(_ j: Int, atMost value: Double) -> OutputConstraint { .init(coefficients: [j: 1], .atMost, value) }
        /// `y_i - y_j >= value` (output i beats output j by at least `value`).
        public static func difference(_ i: Int, minus j: Int, atLeast value: Double) -> OutputConstraint {
            .init(coefficients: [i: 1, j: -1], .atLeast, value)
        }

        /// The unsafe atom `c . y <= d` (the requirement's negation, non-strict).
        func atom(numOutputs m: Int, source: String) throws -> LinearAtom {
            var c = [Double](repeating: 0, count: m)
            for (j, v) in coefficients {
                guard j >= 0, j < m else {
                    throw SpecError(kind: .invalidSpec, file: source, message: "output \(j) does not exist: the model has \(m) outputs (0..\(m - 1))")
                }
                guard v.isFinite else { throw SpecError(kind: .invalidSpec, file: source, message: "the coefficient of output \(j) is not finite") }
                c[j] += v
            }
            guard bound.isFinite else { throw SpecError(kind: .invalidSpec, file: source, message: "the bound \(bound) is not finite") }
            // c.y >= b is violated where c.y <= b; c.y <= b where -c.y <= -b.
            return relation == .atLeast ? LinearAtom(c: c, d: bound) : LinearAtom(c: c.map { -$0 }, d: -bound)
        }
    }

    /// A property to verify or bound: an input region and what the outputs must do there.
    ///
    /// Internally a property is its **unsafe set** (a disjunction of clauses of linear atoms
    /// `c . y <= d`, as in VNN-LIB); `verify` answers `unsat` when the unsafe set is empty over the
    /// region (the property holds) and `sat` with a checked counterexample otherwise.
    public struct Spec: Sendable {
        enum Kind: Sendable {
            case file(String)
            case robustness(Region, label: Int, margin: Double)
            case outputs(Region, [OutputConstraint])
            case property(Property)
        }
        let kind: Kind

        /// A spec file: VNN-LIB (`.vnnlib`) or a JSON robustness spec
        /// `{"center": [...], "epsilon": e, "label": k[, "clip": [lo, hi]]}`.
        public static func file(_ path: String) -> Spec { Spec(kind: .file(path)) }

        /// Robustness of a classifier: at every input of `region`, output `label` exceeds every
        /// other output by more than `margin` (`y_label - y_j > margin` for all `j != label`;
        /// margin 0 is "the argmax stays `label`", as a JSON robustness spec states it).
        public static func robustness(_ region: Region, label: Int, margin: Double = 0) -> Spec {
            Spec(kind: .robustness(region, label: label, margin: margin))
        }

        /// Every constraint holds (strictly) at every input of `region`.
        public static func outputs(_ region: Region, satisfy constraints: [OutputConstraint]) -> Spec {
            Spec(kind: .outputs(region, constraints))
        }

        /// A property already built (its unsafe set; see `Property`).
        public static func property(_ p: Property) -> Spec { Spec(kind: .property(p)) }

        /// How the spec is named in messages.
        public var name: String {
            switch kind {
            case .file(let p): return p
            case .robustness(let r, _, _), .outputs(let r, _): return r.source
            case .property(let p): return p.source
            }
        }

        /// The property for a model with `inputs` and `outputs` coordinates, checked to fit it.
        /// - Throws: `CertusError` of kind `.spec` naming the file (with line and column) or the
        ///   place in code, e.g. a label out of range or a region of the wrong size.
        public func property(inputs: Int, outputs m: Int) throws -> Property {
            try CertusError.wrapping {
                let p: Property
                switch kind {
                case .file(let path):
                    p = try PropertyLoader.load(path: path, numOutputs: m)
                case .property(let q):
                    p = q
                case .robustness(let region, let label, let margin):
                    let source = region.source
                    guard m >= 2 else { throw SpecError(kind: .invalidSpec, file: source, message: "a robustness spec needs a model with at least 2 outputs, got \(m)") }
                    guard label >= 0, label < m else {
                        throw SpecError(kind: .invalidSpec, file: source, message: "label \(label) is out of range: the model has \(m) outputs (valid labels 0..\(m - 1))")
                    }
                    guard margin.isFinite else { throw SpecError(kind: .invalidSpec, file: source, message: "the margin \(margin) is not finite") }
                    let clauses = try (0..<m).filter { $0 != label }.map { j in
                        Clause(atoms: [try OutputConstraint.difference(label, minus: j, atLeast: margin).atom(numOutputs: m, source: source)])
                    }
                    let boxes = try region.boxes()
                    p = Property(numInputs: boxes[0].count, numOutputs: m,
                                 cases: boxes.map { PropertyCase(box: $0, clauses: clauses) }, source: source)
                case .outputs(let region, let constraints):
                    let source = region.source
                    guard !constraints.isEmpty else { throw SpecError(kind: .invalidSpec, file: source, message: "no output constraint given") }
                    let clauses = try constraints.map { Clause(atoms: [try $0.atom(numOutputs: m, source: source)]) }
                    let boxes = try region.boxes()
                    p = Property(numInputs: boxes[0].count, numOutputs: m,
                                 cases: boxes.map { PropertyCase(box: $0, clauses: clauses) }, source: source)
                }
                try p.validate(modelInputs: inputs, modelOutputs: m)
                return p
            }
        }
    }
}

import Foundation
import CertusTensor
import CertusGraph
import CertusSpec
import CertusBounds

/// The network-level soundness battery: for one method at a time, random small networks of every
/// supported operator (`RandomNetwork`) with random boxes and random properties, checked against
/// the networks' own evaluation.
///
/// * Bound methods (`ibp`, `crown`, `alpha-crown`, through `BoundEngine.bound(property:)` as
///   `certus bounds` uses it): every row's [lower, upper] and every intermediate neuron's
///   bounds (`BoundEngine.rootBounds`) must contain the values at every sampled point (centre,
///   corners, face points, uniform points) and at the ends of a projected-gradient search on each
///   row; lower <= upper; and when the report says "verified", no sampled or searched point may
///   satisfy a clause.
/// * Verification methods (`input-split`, `relu-split`, `milp`, `auto`, through
///   `Verifier.forMethod` with the up-front attack switched off so the prover decides): an
///   `unsat` is wrong when a sampled point or a projected-gradient search from the best samples
///   finds a point satisfying a clause; a `sat` is wrong when its counterexample is outside the
///   box or does not satisfy a clause when the graph is evaluated there.
///
/// Thresholds of the properties are placed around the sampled range of each row (inside it, at
/// its minimum, just beyond it, far beyond it; in `largeMagnitude` networks also within 1e-11 to
/// 1e-6 of the row's magnitude beyond its minimum), so that both answers occur. A violation
/// counts as a failure when it exceeds `1e-12 · max(1, |bound|, |value|)` (see
/// `NetworkCheck.relativeTolerance`).
///
/// Deterministic per seed except for what a time limit stops (a verification that times out on
/// a loaded machine may be decided on an idle one); a failure names the seed that replays it
/// (`certus battery --method M --seeds N..<N+1 --verbose`).
public enum SoundnessBattery {
    /// The key of `Report.scales` that counts the large-magnitude networks (pre-activations
    /// offset by 1e2 to 1e3; see `RandomNetwork`).
    public static let largeMagnitudeScale = RandomNetwork.Scale.largeMagnitude.rawValue

    /// What the battery checks. Every `BoundMethod` and every `VerificationMethod` that runs a
    /// prover is one case here (`VerificationMethod.crown` and `.alphaCrown` are the bound
    /// methods of the same name; `.attack` proves nothing).
    public enum Method: String, Sendable, CaseIterable, Codable {
        case ibp, crown
        case alphaCrown = "alpha-crown"
        case inputSplit = "input-split"
        case reluSplit = "relu-split"
        /// Branch and bound on networks of every relaxable operator (GenBaB's general splits).
        case bab
        case milp, auto

        /// The networks the method is run on: IBP bounds every operator; CROWN, alpha-CROWN,
        /// input splitting, `bab` and `auto` need linear relaxations; ReLU splitting and the MILP need
        /// piecewise-linear networks (their leaves are LPs).
        package var family: RandomNetwork.Family {
            switch self {
            case .ibp: return .general
            case .crown, .alphaCrown, .inputSplit, .auto, .bab: return .relaxable
            case .reluSplit, .milp: return .piecewiseLinear
            }
        }

        /// The bound method, for the three bound checks.
        public var boundMethod: BoundMethod? { BoundMethod(rawValue: rawValue) }

        /// The verification method, for the verifier checks.
        public var verificationMethod: VerificationMethod? {
            boundMethod == nil ? VerificationMethod(rawValue: rawValue) : nil
        }
    }

    /// How hard each network is checked.
    public struct Configuration: Sendable {
        /// Points evaluated per network (centre, corners, face points, uniform points). Default 4000.
        public var samples = 4000
        /// Starting points of each projected-gradient search (the best samples). Default 3.
        public var searchStarts = 3
        /// Sign-gradient steps per search. Default 40.
        public var searchSteps = 40
        /// Time limit of one verification (seconds). Default 2.
        public var timeout = 2.0
        /// Check every intermediate neuron's bounds too (bound methods). Default true.
        public var intermediateBounds = true

        /// The defaults.
        public init() {}

        /// A quick setting for unit tests in debug builds (400 samples, short searches).
        public static var quick: Configuration {
            var c = Configuration()
            c.samples = 400; c.searchStarts = 2; c.searchSteps = 15; c.timeout = 2
            return c
        }
    }

    /// One unsound bound or wrong answer.
    public struct Failure: Sendable, Codable, Equatable, CustomStringConvertible {
        /// The seed that replays it.
        public var seed: UInt64
        /// The method checked (`Method.rawValue`).
        public var method: String
        /// `inverted bound`, `unsound bound`, `unsound intermediate bound`, `wrong verified`,
        /// `wrong unsat`, `bad counterexample`, `NaN bound`.
        public var kind: String
        /// What was seen: the row or neuron, the bound, the value and the point.
        public var message: String
        public var description: String { "seed \(seed) [\(method)] \(kind): \(message)" }
    }

    /// What one network gave.
    public struct NetworkOutcome: Sendable {
        package var network: RandomNetwork
        /// `verified` / `not verified` (bound methods), `sat` / `unsat` / `unknown` / `timeout`
        /// (verification methods), or `error` (the method refused or failed; see `reason`).
        public var status: String
        /// Why the network was not decided (`error`, `unknown`, `timeout`).
        public var reason: String?
        /// Spec rows whose bounds were checked against samples.
        public var rowsChecked = 0
        /// Intermediate neurons whose bounds were checked against samples.
        public var neuronsChecked = 0
        /// Points evaluated.
        public var samples = 0
        /// Gradient steps of the searches.
        public var searchSteps = 0
        /// Every unsound bound or wrong answer found.
        public var failures: [Failure] = []
        /// Widest sampled input interval of every elementwise node, by op type.
        public var widestInput: [String: Double] = [:]
        /// Elementwise nodes by op type, and those with a neuron whose sampled input interval
        /// holds a point where the function changes shape (see `Report.crossing`).
        public var elementwiseNodes: [String: Int] = [:]
        /// Those nodes with a neuron whose sampled interval holds a point where the function changes shape.
        public var crossing: [String: Int] = [:]
        /// Elementwise nodes whose sampled input reaches |x| >= 100, by op type.
        public var largeInputs: [String: Int] = [:]
        /// Human-readable account (for `--verbose`).
        public var log: [String] = []
    }

    /// Totals over a seed range.
    public struct Report: Sendable, Codable {
        /// The method checked (`Method.rawValue`).
        public var method: String
        /// The network family drawn (`RandomNetwork.Family.rawValue`).
        public var family: String
        /// The seed range, as given.
        public var seeds: String
        /// Networks checked.
        public var networks = 0
        /// Networks per status (`verified`, `not verified`, `sat`, `unsat`, `unknown`, `timeout`, `error`).
        public var outcomes: [String: Int] = [:]
        /// Why networks were not decided: error messages, and the last prover line of `unknown`
        /// and `timeout` answers (digits replaced by #), with their counts.
        public var reasons: [String: Int] = [:]
        /// Spec rows whose bounds were checked against samples.
        public var rowsChecked = 0
        /// Intermediate neurons whose bounds were checked against samples.
        public var neuronsChecked = 0
        /// Points evaluated (samples), and gradient steps of the searches.
        public var samples = 0
        /// Gradient steps of the searches.
        public var searchSteps = 0
        /// Every unsound bound or wrong answer found.
        public var failures: [Failure] = []
        /// Networks containing each op type.
        public var operators: [String: Int] = [:]
        /// Widest sampled input interval of each elementwise op type over all networks.
        public var widestInput: [String: Double] = [:]
        /// Elementwise nodes by op type.
        public var elementwiseNodes: [String: Int] = [:]
        /// Elementwise nodes with a neuron whose sampled input interval holds a point where the
        /// function changes shape: a crest or trough (Sin, Cos), the minimum (GeLU), the
        /// inflection at 0 (Sigmoid, Tanh, Erf), the kink at 0 (ReLU, LeakyRelu). Three
        /// elementwise-like operators are counted under their own keys: `Mul (bilinear)` (a
        /// product of two variable values; crossing: both operands' sampled ranges hold 0 at the
        /// same element, McCormick's hardest case), `Div` (by a constant; crossing: a negative
        /// divisor) and `Softmax` (crossing: some output's sampled range holds 1/2 inside, so
        /// which input dominates changes over the box; for two entries, the inputs cross).
        public var crossing: [String: Int] = [:]
        /// Elementwise nodes whose sampled input reaches |x| >= 100, by op type.
        public var largeInputs: [String: Int] = [:]
        /// Networks per scale (`RandomNetwork.Scale`), and the outcomes of the `largeMagnitude` ones.
        public var scales: [String: Int] = [:]
        /// Outcomes of the large-magnitude networks, by status.
        public var largeMagnitudeOutcomes: [String: Int] = [:]
        /// Wall-clock seconds of the run.
        public var seconds = 0.0

        /// Networks whose check was decided: rows checked (bound methods) or sat/unsat.
        public var decided: Int {
            outcomes["sat", default: 0] + outcomes["unsat", default: 0]
                + outcomes["verified", default: 0] + outcomes["not verified", default: 0]
        }

        enum CodingKeys: String, CodingKey {
            case method, family, seeds, networks, outcomes, reasons, rowsChecked = "rows_checked",
                 neuronsChecked = "neurons_checked", samples, searchSteps = "search_steps", failures,
                 operators, widestInput = "widest_input", elementwiseNodes = "elementwise_nodes", crossing,
                 largeInputs = "large_inputs", scales, largeMagnitudeOutcomes = "large_magnitude_outcomes", seconds, decided
        }

        /// An empty report for `method` on `family` over `seeds`.
        public init(method: String, family: String, seeds: String) {
            self.method = method; self.family = family; self.seeds = seeds
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            method = try c.decode(String.self, forKey: .method)
            family = try c.decode(String.self, forKey: .family)
            seeds = try c.decode(String.self, forKey: .seeds)
            networks = try c.decode(Int.self, forKey: .networks)
            outcomes = try c.decode([String: Int].self, forKey: .outcomes)
            reasons = try c.decode([String: Int].self, forKey: .reasons)
            rowsChecked = try c.decode(Int.self, forKey: .rowsChecked)
            neuronsChecked = try c.decode(Int.self, forKey: .neuronsChecked)
            samples = try c.decode(Int.self, forKey: .samples)
            searchSteps = try c.decode(Int.self, forKey: .searchSteps)
            failures = try c.decode([Failure].self, forKey: .failures)
            operators = try c.decode([String: Int].self, forKey: .operators)
            widestInput = try c.decode([String: Double].self, forKey: .widestInput)
            elementwiseNodes = try c.decodeIfPresent([String: Int].self, forKey: .elementwiseNodes) ?? [:]
            crossing = try c.decodeIfPresent([String: Int].self, forKey: .crossing) ?? [:]
            largeInputs = try c.decodeIfPresent([String: Int].self, forKey: .largeInputs) ?? [:]
            scales = try c.decodeIfPresent([String: Int].self, forKey: .scales) ?? [:]
            largeMagnitudeOutcomes = try c.decodeIfPresent([String: Int].self, forKey: .largeMagnitudeOutcomes) ?? [:]
            seconds = try c.decode(Double.self, forKey: .seconds)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(method, forKey: .method); try c.encode(family, forKey: .family); try c.encode(seeds, forKey: .seeds)
            try c.encode(networks, forKey: .networks); try c.encode(outcomes, forKey: .outcomes); try c.encode(reasons, forKey: .reasons)
            try c.encode(rowsChecked, forKey: .rowsChecked); try c.encode(neuronsChecked, forKey: .neuronsChecked)
            try c.encode(samples, forKey: .samples); try c.encode(searchSteps, forKey: .searchSteps)
            try c.encode(failures, forKey: .failures); try c.encode(operators, forKey: .operators)
            try c.encode(widestInput, forKey: .widestInput)
            try c.encode(elementwiseNodes, forKey: .elementwiseNodes); try c.encode(crossing, forKey: .crossing)
            try c.encode(largeInputs, forKey: .largeInputs); try c.encode(scales, forKey: .scales)
            try c.encode(largeMagnitudeOutcomes, forKey: .largeMagnitudeOutcomes)
            try c.encode(seconds, forKey: .seconds); try c.encode(decided, forKey: .decided)
        }

        mutating func add(_ o: NetworkOutcome) {
            networks += 1
            outcomes[o.status, default: 0] += 1
            if let e = o.reason {
                let key = o.status + ": " + String(e.map { $0.isNumber ? "#" : $0 }.prefix(120))
                reasons[key, default: 0] += 1
            }
            rowsChecked += o.rowsChecked; neuronsChecked += o.neuronsChecked
            samples += o.samples; searchSteps += o.searchSteps
            failures += o.failures
            for t in o.network.opTypes { operators[t, default: 0] += 1 }
            for (t, w) in o.widestInput { widestInput[t] = max(widestInput[t] ?? 0, w) }
            for (t, n) in o.elementwiseNodes { elementwiseNodes[t, default: 0] += n }
            for (t, n) in o.crossing { crossing[t, default: 0] += n }
            for (t, n) in o.largeInputs { largeInputs[t, default: 0] += n }
            scales[o.network.scale.rawValue, default: 0] += 1
            if o.network.scale == .largeMagnitude { largeMagnitudeOutcomes[o.status, default: 0] += 1 }
        }
    }

    /// Runs `method` on the networks of `seeds`, one after another. `progress` is called after
    /// each network with its outcome (for `--verbose` and live counts).
    public static func run(method: Method, seeds: Range<UInt64>, configuration: Configuration = Configuration(),
                           progress: ((NetworkOutcome) -> Void)? = nil) -> Report {
        let start = Date()
        var report = Report(method: method.rawValue, family: method.family.rawValue, seeds: "\(seeds.lowerBound)..<\(seeds.upperBound)")
        for seed in seeds {
            let o = check(method: method, seed: seed, configuration: configuration)
            report.add(o)
            progress?(o)
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Generates the network of `seed` for `method` and checks it.
    public static func check(method: Method, seed: UInt64, configuration: Configuration = Configuration()) -> NetworkOutcome {
        check(method: method, network: RandomNetwork.generate(seed: seed, family: method.family), configuration: configuration)
    }

    /// Checks `method` on a given network and box (a random property is drawn from the
    /// network's seed).
    package static func check(method: Method, network: RandomNetwork, configuration: Configuration = Configuration()) -> NetworkOutcome {
        var run = NetworkCheck(method: method, network: network, configuration: configuration)
        run.execute()
        return run.outcome
    }
}

/// The check of one network.
private struct NetworkCheck {
    let method: SoundnessBattery.Method
    let net: RandomNetwork
    let config: SoundnessBattery.Configuration
    let graph: Graph
    let box: InputBox
    var rng: SplitMix64
    var outcome: SoundnessBattery.NetworkOutcome

    init(method: SoundnessBattery.Method, network: RandomNetwork, configuration: SoundnessBattery.Configuration) {
        self.method = method; net = network; config = configuration
        graph = network.graph; box = network.box
        rng = SplitMix64(seed: network.seed ^ 0x5EED_CAFE_F00D_0001)
        outcome = SoundnessBattery.NetworkOutcome(network: network, status: "error")
        outcome.log = ["seed \(network.seed), method \(method.rawValue), family \(network.family.rawValue), scale \(network.scale.rawValue)"]
            + network.listing.map { "  " + $0 }
            + ["  box lower \(box.lower)", "  box upper \(box.upper)"]
    }

    /// Whether [l, u] holds a point where the operator's function changes shape (a kink, an
    /// inflection, an extremum: `ElementwiseUnary.crossesShapeChange`).
    static func crosses(_ op: any Operator, _ l: Double, _ u: Double) -> Bool {
        guard l.isFinite, u.isFinite, l < u, let f = op as? any ElementwiseUnary else { return false }
        return f.crossesShapeChange(l: l, u: u)
    }

    /// A bound may miss a sampled value by this fraction of max(1, |bound|, |value|). Honest
    /// bounds are padded by `RoundingGuard.relative` (about 9e-13) of their terms' magnitude,
    /// which is at least the value's, so they need no slack beyond rounding. (It was 1e-9, which
    /// let an intermediate bound of 100 sin z near -51 be 5e-8 too tight, and one of a
    /// pre-activation near 8e5 be 8e-4 too tight, unreported.)
    static let relativeTolerance = 1e-12

    func tolerance(_ a: Double, _ b: Double) -> Double { Self.relativeTolerance * max(1, abs(a), abs(b)) }

    mutating func fail(_ kind: String, _ message: String) {
        outcome.failures.append(.init(seed: net.seed, method: method.rawValue, kind: kind, message: message))
        outcome.log.append("  FAILURE \(kind): \(message)")
    }

    // MARK: Sampling

    /// Centre, corners (all when at most 8 coordinates are free, else 64 random), face points
    /// (each free coordinate at a bound or uniform) and uniform points: `config.samples` in all.
    mutating func samplePoints() -> [[Double]] {
        let n = box.count
        let free = (0..<n).filter { box.lower[$0] < box.upper[$0] }
        var pts: [[Double]] = [zip(box.lower, box.upper).map { ($0 + $1) / 2 }]
        let total = max(config.samples, 1)
        if free.count <= 8 {
            for mask in 0..<(1 << free.count) where pts.count < total / 2 {
                var x = box.lower
                for (k, i) in free.enumerated() where mask & (1 << k) != 0 { x[i] = box.upper[i] }
                pts.append(x)
            }
        } else {
            for _ in 0..<64 { pts.append((0..<n).map { rng.nextBool() ? box.lower[$0] : box.upper[$0] }) }
        }
        let faces = pts.count + (total - pts.count) / 3
        while pts.count < faces {
            pts.append((0..<n).map { i in
                let r = rng.next() % 3
                return r == 0 ? box.lower[i] : r == 1 ? box.upper[i] : rng.uniform(box.lower[i], box.upper[i])
            })
        }
        while pts.count < total { pts.append((0..<n).map { rng.uniform(box.lower[$0], box.upper[$0]) }) }
        return pts
    }

    func project(_ x: inout [Double]) {
        for i in x.indices { x[i] = min(max(x[i], box.lower[i]), box.upper[i]) }
    }

    /// Projected sign-gradient descent on `loss` (given the output, returns the value and the
    /// output weights of its gradient) from `x`, steps decaying from 1/8 to 1/1000 of the box
    /// width. Calls `visit` with every point and its output; returns the steps taken.
    func search(from x0: [Double], steps: Int, loss: ([Double]) -> (Double, [Double]), visit: ([Double], [Double]) -> Void) -> Int {
        var x = x0
        var taken = 0
        for t in 0..<steps {
            let frac = 0.125 * pow(0.001 / 0.125, Double(t) / Double(max(1, steps - 1)))
            guard let y0 = try? graph.evaluateFirst(x), y0.allSatisfy(\.isFinite) else { return taken }
            let (_, w) = loss(y0)
            guard let (y, g) = try? graph.gradient(at: x, outputWeights: w), g.allSatisfy(\.isFinite) else { return taken }
            visit(x, y)
            taken += 1
            for i in x.indices where box.upper[i] > box.lower[i] {
                x[i] -= frac * (box.upper[i] - box.lower[i]) * (g[i] > 0 ? 1 : g[i] < 0 ? -1 : 0)
            }
            project(&x)
        }
        if let y = try? graph.evaluateFirst(x), y.allSatisfy(\.isFinite) { visit(x, y) }
        return taken
    }

    // MARK: Properties

    /// Random output rows: every output (unit rows, sometimes negated), differences and dense
    /// combinations.
    mutating func randomRows(outputs m: Int, extra: Int) -> [[Double]] {
        var rows: [[Double]] = []
        for i in 0..<m {
            var c = [Double](repeating: 0, count: m)
            c[i] = rng.nextUnit() < 0.25 ? -1 : 1
            rows.append(c)
        }
        for _ in 0..<extra {
            var c = [Double](repeating: 0, count: m)
            if m >= 2 && rng.nextBool() {
                let i = Int(rng.next() % UInt64(m)), j = (i + 1 + Int(rng.next() % UInt64(m - 1))) % m
                c[i] = 1; c[j] = -1
            } else {
                for i in 0..<m { c[i] = rng.uniform(-2, 2) }
            }
            rows.append(c)
        }
        return rows
    }

    /// A threshold for `c·y <= d` from the row's sampled minimum `lo` and range: inside the
    /// sampled range (sat), at the minimum (equality), just beyond it, or far beyond it.
    mutating func threshold(min lo: Double, max hi: Double) -> Double {
        let range = max(hi - lo, 1e-9 * max(1, abs(lo)))
        let f = [-0.3, -0.05, 0, 1e-6, 1e-3, 0.02, 0.1, 0.3, 1.0][Int(rng.next() % 9)]
        return lo - f * range
    }

    func dot(_ c: [Double], _ y: [Double]) -> Double {
        var s = 0.0
        for i in 0..<c.count { s += c[i] * y[i] }
        return s
    }

    // MARK: Run

    mutating func execute() {
        let start = Date()
        let pts = samplePoints()
        var ys: [[Double]] = []
        ys.reserveCapacity(pts.count)
        // Sampled min and max of every neuron of every node output (argmin/argmax: the sample).
        let checked = graph.nodes.map(\.output)
        var vmin: [Int: [Double]] = [:], vmax: [Int: [Double]] = [:]
        var argmin: [Int: [Int]] = [:], argmax: [Int: [Int]] = [:]
        for (k, x) in pts.enumerated() {
            guard let all = try? graph.evaluateAll(x), let y = all[graph.outputs[0]] else {
                outcome.reason = "evaluation failed at a sample"; outcome.status = "error"; return
            }
            guard y.allSatisfy(\.isFinite) else { continue }
            ys.append(y)
            for v in checked {
                guard let vals = all[v] else { continue }
                if vmin[v] == nil {
                    vmin[v] = vals; vmax[v] = vals
                    argmin[v] = .init(repeating: k, count: vals.count); argmax[v] = argmin[v]
                    continue
                }
                for j in vals.indices {
                    if vals[j] < vmin[v]![j] { vmin[v]![j] = vals[j]; argmin[v]![j] = k }
                    if vals[j] > vmax[v]![j] { vmax[v]![j] = vals[j]; argmax[v]![j] = k }
                }
            }
        }
        outcome.samples = pts.count
        // Coverage: the widest sampled input interval of every elementwise node, and whether
        // some neuron's sampled input interval crosses where the function changes shape. The
        // nodes are those the bound engine bounds: a ReLU sum it fuses (`PiecewiseLinearFusion`)
        // counts as one `PiecewiseLinear` node of its input x (crossing: a breakpoint inside).
        for node in PiecewiseLinearFusion.fuse(graph).nodes where node.op is any ElementwiseUnary {
            let u = node.inputs[0]
            let lo = u == graph.input ? box.lower : vmin[u], hi = u == graph.input ? box.upper : vmax[u]
            guard let lo, let hi else { continue }
            let w = zip(lo, hi).map { $1 - $0 }.max() ?? 0
            outcome.widestInput[node.opType] = max(outcome.widestInput[node.opType] ?? 0, w)
            outcome.elementwiseNodes[node.opType, default: 0] += 1
            if zip(lo, hi).contains(where: { Self.crosses(node.op, $0, $1) }) { outcome.crossing[node.opType, default: 0] += 1 }
            if zip(lo, hi).contains(where: { max(abs($0), abs($1)) >= 100 }) { outcome.largeInputs[node.opType, default: 0] += 1 }
        }
        func range(_ u: Int) -> (lo: [Double], hi: [Double])? {
            if let c = graph.constants[u] { return (c.data, c.data) }
            if u == graph.input { return (box.lower, box.upper) }
            guard let lo = vmin[u], let hi = vmax[u] else { return nil }
            return (lo, hi)
        }
        for node in graph.nodes {
            switch node.opType {
            case "Mul" where node.inputs.allSatisfy({ graph.constants[$0] == nil }):
                guard let a = range(node.inputs[0]), let b = range(node.inputs[1]) else { continue }
                outcome.elementwiseNodes["Mul (bilinear)", default: 0] += 1
                if a.lo.count == b.lo.count,
                   a.lo.indices.contains(where: { a.lo[$0] < 0 && 0 < a.hi[$0] && b.lo[$0] < 0 && 0 < b.hi[$0] }) {
                    outcome.crossing["Mul (bilinear)", default: 0] += 1
                }
            case "Div":
                outcome.elementwiseNodes["Div", default: 0] += 1
                if let d = graph.constants[node.inputs[1]], d.data.contains(where: { $0 < 0 }) { outcome.crossing["Div", default: 0] += 1 }
            case "Softmax":
                guard let lo = vmin[node.output], let hi = vmax[node.output] else { continue }
                outcome.elementwiseNodes["Softmax", default: 0] += 1
                if zip(lo, hi).contains(where: { $0 < 0.5 && 0.5 < $1 }) { outcome.crossing["Softmax", default: 0] += 1 }
            default: break
            }
        }
        guard !ys.isEmpty else { outcome.reason = "no finite output at any sample"; outcome.status = "error"; return }
        let m = ys[0].count

        // The property: rows with thresholds around their sampled ranges, grouped into clauses.
        let isBound = method.boundMethod != nil
        let rows = isBound ? randomRows(outputs: min(m, 8), extra: 1 + Int(rng.next() % 3)).map { c in c + [Double](repeating: 0, count: m - c.count) }
                           : randomRows(outputs: m, extra: 2).shuffled(using: &rng).prefix(1 + Int(rng.next() % 3)).map { $0 }
        let beyond = rng.nextUnit() < 0.3   // every threshold beyond the sampled minimum
        // Large-magnitude networks: half of the thresholds within 1e-11 to 1e-6 of the row's
        // magnitude beyond its sampled minimum, where rounding in a bound decides the answer
        // (own stream, so standard networks get the properties they always had).
        var marginRNG = SplitMix64(seed: net.seed ^ 0x7A1C_0000_7A1C_0001)
        var atoms: [LinearAtom] = []
        for c in rows {
            let vals = ys.map { dot(c, $0) }
            let lo = vals.min()!, hi = vals.max()!
            var d = threshold(min: lo, max: hi)
            if beyond { d = lo - [1e-6, 1e-3, 0.05, 0.5][Int(rng.next() % 4)] * max(hi - lo, 1e-9) }
            if net.scale == .largeMagnitude && marginRNG.nextBool() {
                d = lo - exp(marginRNG.uniform(log(1e-11), log(1e-6))) * max(abs(lo), hi - lo)
            }
            atoms.append(LinearAtom(c: c, d: d))
        }
        var clauses: [Clause] = []
        var i = 0
        while i < atoms.count {
            let take = min(atoms.count - i, rng.nextUnit() < 0.3 ? 2 : 1)
            clauses.append(Clause(atoms: Array(atoms[i..<(i + take)])))
            i += take
        }
        let property = Property(numInputs: graph.inputCount, numOutputs: m,
                                cases: [PropertyCase(box: box, clauses: clauses)], source: "battery seed \(net.seed)")
        for (k, cl) in clauses.enumerated() {
            outcome.log.append("  clause \(k): " + cl.atoms.map { "\($0.c) . y <= \($0.d)" }.joined(separator: " and "))
        }

        if let bm = method.boundMethod {
            checkBounds(bm, property: property, points: pts, outputs: ys, vmin: vmin, vmax: vmax, argmin: argmin, argmax: argmax)
        } else if let vm = method.verificationMethod {
            checkVerification(vm, property: property, points: pts, outputs: ys)
        }
        outcome.log.append(String(format: "  %@ in %.3f s", outcome.status, Date().timeIntervalSince(start)))
    }

    /// The lowest clause loss (max over atoms of c·y - d) and its gradient weights.
    func clauseLoss(_ clause: Clause, _ y: [Double]) -> (Double, [Double]) {
        var best = -Double.infinity, w = clause.atoms[0].c
        for a in clause.atoms {
            let s = dot(a.c, y) - a.d
            if s > best { best = s; w = a.c }
        }
        return (best, w)
    }

    /// Looks for a point of the box where some clause holds: the samples, then a projected
    /// gradient search on each clause's loss from its best samples. Returns the point, its
    /// output and the clause.
    mutating func denseSearch(_ property: Property, points: [[Double]], outputs: [[Double]]) -> (x: [Double], y: [Double], clause: Int, loss: Double)? {
        let clauses = property.cases[0].clauses
        var found: (x: [Double], y: [Double], clause: Int, loss: Double)? = nil
        for (k, y) in outputs.enumerated() {
            for (ci, cl) in clauses.enumerated() {
                let (l, _) = clauseLoss(cl, y)
                if l <= 0 && (found == nil || l < found!.loss) { found = (points[k], y, ci, l) }
            }
        }
        if let f = found { return f }
        for (ci, cl) in clauses.enumerated() {
            let order = outputs.indices.sorted { clauseLoss(cl, outputs[$0]).0 < clauseLoss(cl, outputs[$1]).0 }
            for k in order.prefix(config.searchStarts) {
                var best: (x: [Double], y: [Double], clause: Int, loss: Double)? = nil
                outcome.searchSteps += search(from: points[k], steps: 2 * config.searchSteps, loss: { clauseLoss(cl, $0) }) { x, y in
                    let (l, _) = clauseLoss(cl, y)
                    if l <= 0 && (best == nil || l < best!.loss) { best = (x, y, ci, l) }
                }
                if let b = best { return b }
            }
        }
        return nil
    }

    // MARK: Bound methods

    mutating func checkBounds(_ bm: BoundMethod, property: Property, points: [[Double]], outputs: [[Double]],
                              vmin: [Int: [Double]], vmax: [Int: [Double]], argmin: [Int: [Int]], argmax: [Int: [Int]]) {
        let engine = BoundEngine(graph: graph)
        let settings = BoundSettings(method: bm)
        let report: PropertyBoundReport
        do {
            report = try engine.bound(property: property, settings: settings)
        } catch {
            outcome.status = "error"; outcome.reason = "\(error)"
            outcome.log.append("  bound error: \(error)")
            return
        }
        outcome.status = report.verified ? "verified" : "not verified"
        // Rows: sampled extremes, then a search towards each end from the best sample. One
        // failure per network (the first violated row; the others are in the log).
        var rowViolations: [String] = []
        for (r, row) in report.rows.enumerated() {
            let c = row.c, d = row.d
            if row.lower.isNaN || row.upper.isNaN { fail("NaN bound", "row \(r) (\(c) . y - \(d)): [\(row.lower), \(row.upper)]"); continue }
            if row.lower > row.upper + tolerance(row.lower, row.upper) {
                fail("inverted bound", "row \(r) (\(c) . y - \(d)): lower \(row.lower) > upper \(row.upper)")
            }
            var lo = Double.infinity, hi = -Double.infinity, xlo = points[0], xhi = points[0]
            var kLo = 0, kHi = 0
            for (k, y) in outputs.enumerated() {
                let v = dot(c, y) - d
                if v < lo { lo = v; kLo = k }
                if v > hi { hi = v; kHi = k }
            }
            xlo = points[kLo]; xhi = points[kHi]
            for (sign, start) in [(1.0, kLo), (-1.0, kHi)] {
                let w = c.map { sign * $0 }
                outcome.searchSteps += search(from: points[start], steps: config.searchSteps, loss: { y in (sign * dot(c, y), w) }) { x, y in
                    let v = dot(c, y) - d
                    if v < lo { lo = v; xlo = x }
                    if v > hi { hi = v; xhi = x }
                }
            }
            outcome.log.append(String(format: "  row %d: bound [%.9g, %.9g], sampled [%.9g, %.9g]", r, row.lower, row.upper, lo, hi))
            if lo < row.lower - tolerance(row.lower, lo) {
                rowViolations.append("row \(r) (\(c) . y - \(d)): lower bound \(row.lower) > value \(lo) at x = \(xlo)")
            }
            if hi > row.upper + tolerance(row.upper, hi) {
                rowViolations.append("row \(r) (\(c) . y - \(d)): upper bound \(row.upper) < value \(hi) at x = \(xhi)")
            }
            outcome.rowsChecked += 1
        }
        if let first = rowViolations.first {
            outcome.log += rowViolations.dropFirst().map { "  also: " + $0 }
            fail("unsound bound", first + (rowViolations.count > 1 ? " (\(rowViolations.count) violations in \(report.rows.count) rows)" : ""))
        }
        if report.verified, let v = denseSearch(property, points: points, outputs: outputs) {
            fail("wrong verified", "\(bm.rawValue) refutes every clause, yet clause \(v.clause) holds (loss \(v.loss)) at x = \(v.x), y = \(v.y)")
        }
        // Intermediate neurons.
        guard config.intermediateBounds else { return }
        let root: IntermediateBounds
        do {
            root = try engine.rootBounds(box: box, settings: settings)
        } catch {
            outcome.log.append("  intermediate bounds error: \(error)")
            return
        }
        // The first node (in evaluation order) whose bounds miss a sampled value is where the
        // unsoundness starts: its inputs' bounds held at every sample. One failure per network,
        // naming that node, its input interval and the value it missed; later nodes in the log.
        var firstBad: String? = nil
        var badNeurons = 0, badNodes = 0
        for node in engine.graph.nodes {
            let v = node.output
            guard let lo = vmin[v], let hi = vmax[v] else { continue }
            var here: [String] = []
            for j in lo.indices {
                guard let b = root.bounds(value: v, index: j) else { continue }
                outcome.neuronsChecked += 1
                if b.lower.isNaN || b.upper.isNaN {
                    here.append("v\(v)[\(j)] bounds are NaN: [\(b.lower), \(b.upper)]")
                } else if lo[j] < b.lower - tolerance(b.lower, lo[j]) {
                    here.append("v\(v)[\(j)]: lower bound \(b.lower) > value \(lo[j]) at x = \(points[argmin[v]![j]])")
                } else if hi[j] > b.upper + tolerance(b.upper, hi[j]) {
                    here.append("v\(v)[\(j)]: upper bound \(b.upper) < value \(hi[j]) at x = \(points[argmax[v]![j]])")
                }
                if here.count == 1 && firstBad == nil && !node.inputs.isEmpty {
                    // The node's variable inputs' bounds and sampled ranges at the same index
                    // (elementwise operators: the interval whose image is wrong).
                    let inputs = node.inputs.compactMap { u -> String? in
                        guard graph.constants[u] == nil else { return nil }
                        let ib = u == graph.input ? (box.lower.indices.contains(j) ? (box.lower[j], box.upper[j]) : nil)
                                                  : root.bounds(value: u, index: j).map { ($0.lower, $0.upper) }
                        let sampled = vmin[u].flatMap { m in m.indices.contains(j) ? "sampled [\(m[j]), \(vmax[u]![j])]" : nil } ?? ""
                        return ib.map { "input v\(u)[\(j)] bounds [\($0.0), \($0.1)] \(sampled)" }
                    }
                    firstBad = "\(node.opType) (\(node.name)) output " + here[0] + (inputs.isEmpty ? "" : "; " + inputs.joined(separator: "; "))
                }
            }
            if !here.isEmpty {
                badNodes += 1; badNeurons += here.count
                outcome.log += here.map { "  intermediate: \(node.opType) " + $0 }
            }
        }
        if let firstBad {
            fail("unsound intermediate bound", firstBad + " (\(badNeurons) neurons in \(badNodes) nodes violated)")
        }
    }

    // MARK: Verification methods

    mutating func checkVerification(_ vm: VerificationMethod, property: Property, points: [[Double]], outputs: [[Double]]) {
        var s = VerifierSettings()
        s.timeout = config.timeout
        s.seed = net.seed
        // The prover decides: no sampling or gradient attack before it (an attack that finds a
        // counterexample first would hide a wrong proof).
        s.randomSamples = 0; s.cornerSampling = false; s.faceSamples = 0; s.attackRestarts = 0
        s.finalAttack = false
        s.inputSplit.workers = 1
        let result: VerificationResult
        do {
            result = try Verifier.forMethod(vm, graph: graph, property: property, settings: s).verify(graph: graph, property: property)
        } catch {
            outcome.status = "error"; outcome.reason = "\(error)"
            return
        }
        outcome.status = result.status.rawValue
        outcome.log.append("  verifier: \(result.status.rawValue) by \(result.method)")
        outcome.log += result.details.map { "    " + $0 }
        switch result.status {
        case .sat:
            guard let cx = result.counterexample else { fail("bad counterexample", "sat without a counterexample"); return }
            guard property.cases[cx.caseIndex].box.contains(cx.x) else {
                fail("bad counterexample", "x = \(cx.x) is outside the box"); return
            }
            guard let y = try? graph.evaluateFirst(cx.x), y.allSatisfy(\.isFinite) else {
                fail("bad counterexample", "the model cannot be evaluated at x = \(cx.x)"); return
            }
            // The verifier's witness must satisfy a clause in Double (README, witness semantics):
            // only rounding of the dot product is allowed for.
            let holds = property.cases[0].clauses.contains { cl in
                cl.atoms.allSatisfy { a in dot(a.c, y) - a.d <= tolerance(a.d, dot(a.c, y)) }
            }
            if !holds { fail("bad counterexample", "no clause holds at x = \(cx.x): y = \(y)") }
            outcome.rowsChecked += property.cases[0].clauses.reduce(0) { $0 + $1.atoms.count }
        case .unsat:
            outcome.rowsChecked += property.cases[0].clauses.reduce(0) { $0 + $1.atoms.count }
            if let v = denseSearch(property, points: points, outputs: outputs) {
                // A point at the boundary within rounding is not a refutation of the proof.
                let scale = property.cases[0].clauses[v.clause].atoms.map { abs($0.d) + abs(dot($0.c, v.y)) }.max() ?? 1
                if v.loss < -1e-12 * max(1, scale) {
                    fail("wrong unsat", "\(result.method) proved the property, yet clause \(v.clause) holds (loss \(v.loss)) at x = \(v.x), y = \(v.y)")
                } else {
                    outcome.log.append("  note: clause \(v.clause) holds within rounding (loss \(v.loss)) at x = \(v.x)")
                }
            }
        case .unknown, .timeout:
            outcome.reason = result.details.last(where: { !$0.hasPrefix("attack:") }) ?? result.details.last
        }
    }
}

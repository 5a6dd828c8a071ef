import ArgumentParser
import Certus
import Foundation

extension LipschitzNorm: ExpressibleByArgument {}
extension LipschitzBranching: ExpressibleByArgument {}

struct LipschitzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lipschitz",
        abstract: "Certified upper bounds on a model's local Lipschitz constants over a region, with attained lower bounds.",
        discussion: """
        For each output j: an upper bound, certified by bound propagation on the Clarke Jacobian graph, on the \
        largest gradient norm of output j over the region (the dual norm of --norm: L1 for inf, L2 for 2, L-inf \
        for 1); the largest gradient norm attained at a point of the region (sampling and projected ascent: a lower \
        bound); and the naive bound (product of the layers' operator norms). Overall: the largest over the outputs. \
        Exit code with --max L: 0 when the certified bound is at most L, 1 when the attained lower bound is above L, \
        2 when undecided; without --max: 0. 3 for bad input (the file and the place are named).

        --exact also solves, for small ReLU/LeakyReLU networks and --norm inf or 1, a GLPK MILP over activation \
        patterns whose optimum is the exact local constant (LipMIP-style): printed as the `exact` lines and the \
        `exact` field of --json. It is a cross-check of the certified bound, GLPK's optimum within its tolerances, \
        not a certified bound, and does not change the exit code; it gets its own --timeout.
        """)
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Argument(help: "Region: a JSON spec {center, epsilon[, clip]} (a label is ignored) or a VNN-LIB file's input box.") var region: String
    @Option(help: "Input norm: inf, 2 or 1.") var norm: LipschitzNorm = .inf
    @Option(help: "Analyse only this output (default: all).") var output: Int?
    @Option(help: "Bound method on the Jacobian graph: crown or alpha-crown.") var method: BoundMethod = .alphaCrown
    @Option(help: "Uniform samples for the attained lower bound.") var samples: Int = 1000
    @Option(help: "Seed of the sampler.") var seed: UInt64 = 0
    @Option(help: "Time limit in seconds (the best certified bound reached is reported).") var timeout: Double = 60
    @Option(help: "Seconds the search for attained values may take after the certified bound (default: without --target-ratio 4x the bound's time, at least 1 s; with it, its share of --timeout).") var searchTime: Double?
    @Option(help: "Decide whether the constant is at most this value (exit code).") var max: Double?
    @Option(help: "Branch and bound until the certified bound is at most this ratio times the attained lower bound (overall), or the time limit; default: no branching.") var targetRatio: Double?
    @Option(help: "What branch and bound splits: auto (the region when it has at most 20 free inputs, else neurons), neuron-split or input-split.") var branching: LipschitzBranching = .auto
    @Flag(help: "Also compute the exact constant by a MILP over activation patterns (GLPK; ReLU/LeakyReLU networks, --norm inf or 1): a cross-check, not a certified bound.") var exact = false
    @Option(help: "Arithmetic: only real is supported (the Lipschitz constant of the real-valued network); float32 is refused (see docs/reliability.md).") var semantics: NumericSemantics = .real
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        // The time limit, guaranteed: twice --timeout with --exact (the MILP gets its own), from the
        // process's start; past it (plus 0.5 s) the command ends with `timeout` (exit 2).
        let stop = timeout > 0 && timeout.isFinite
            ? SignalStop.plainTimeLimit(command: "lipschitz", limit: (exact ? 2 : 1) * timeout, json: json) : nil
        let report: LipschitzReport = try reportingErrors {
            guard timeout > 0, timeout.isFinite else { throw CLIError("--timeout must be a positive number of seconds, got \(timeout)") }
            if let searchTime, !(searchTime >= 0 && searchTime.isFinite) { throw CLIError("--search-time must be a number of seconds >= 0, got \(searchTime)") }
            guard samples >= 0 else { throw CLIError("--samples must be >= 0, got \(samples)") }
            if let max, !max.isFinite { throw CLIError("--max must be a finite number, got \(max)") }
            guard method != .ibp else { throw CLIError("--method must be crown or alpha-crown") }
            if semantics == .float32 {
                throw CLIError("--semantics float32 is not supported by lipschitz: the float32 evaluation of a network is a step "
                               + "function of its inputs (finitely many float32 values), so its Lipschitz constant in the usual "
                               + "sense is not defined; the bounds are of the real-valued network (--semantics real)")
            }
            if let targetRatio, !(targetRatio >= 1 && targetRatio.isFinite) { throw CLIError("--target-ratio must be a finite number >= 1, got \(targetRatio)") }
            if targetRatio != nil && norm == .l2 { throw CLIError("--target-ratio needs --norm inf or 1: branching bounds a linear quantity, and the gradient's L2 norm is not one") }
            if exact && norm == .l2 {
                throw CLIError("--exact needs --norm inf or 1: the exact mode is a MILP, and the L2 norm of the gradient is not linear")
            }
            let m = try Certus.Model.load(model)
            let outputCount = try Certus.dimensions(of: m).outputs
            if let output, output < 0 || output >= outputCount {
                throw CLIError("--output \(output) does not exist: the model has \(outputCount) outputs (0..\(outputCount - 1))")
            }
            var options = Certus.LipschitzOptions(norm: norm, method: method, timeout: Swift.max(1e-3, timeout - ProcessClock.elapsed))
            options.outputs = output.map { [$0] }
            options.settings.samples = samples
            options.settings.seed = seed
            options.settings.searchSeconds = searchTime
            options.targetRatio = targetRatio
            options.settings.branching = branching
            options.exact = exact
            let line = ProgressLine.forStderr(enabled: !json)
            if let line {
                let h = line.handler(prefix: "")
                options.progress = { p in
                    var b = p.search
                    b.prover = "output \(p.output): certified <= \(String(format: "%.6g", p.upper)), goal \(String(format: "%.6g", p.goal)); \(b.prover)"
                    h(b)
                }
            }
            defer { line?.clear() }
            return try Certus.lipschitz(model: m, region: .file(region), options: options)
        }
        let emit = {
            if json {
                try printJSON(report)
            } else {
                printTable(report.result)
                if let exactResult = report.exact { printExact(exactResult) }
            }
            fflush(stdout)
        }
        if let stop { _ = try stop.finish(emit) } else { try emit() }
        if let max {
            if report.upper <= max { throw ExitCode(0) }
            if report.lower > max { throw ExitCode(1) }
            throw ExitCode(2)
        }
    }

    func printTable(_ r: LipschitzResult) {
        let dual = ["inf": "L1", "2": "L2", "1": "L-inf"][r.norm.rawValue]!
        print("norm: L-\(r.norm.rawValue) input (the gradient's \(dual) norm)   region: \(r.regionLower.count) inputs   method: \(r.method)")
        print("output   attained lower   certified upper            naive    ratio")
        func f(_ v: Double?) -> String { v.map { String(format: "%16.6g", $0) } ?? String(repeating: " ", count: 15) + "-" }
        for b in r.perOutput {
            print(String(format: "%6d ", b.output) + f(b.lower) + "  " + f(b.upper) + " " + f(b.naive) + String(format: " %8.3f", b.lower > 0 ? b.upper / b.lower : .infinity))
        }
        print(" all   " + f(r.lower) + "  " + f(r.upper) + " " + f(r.naive) + String(format: " %8.3f", r.ratio))
        print("\(r.complete ? "certified" : "best certified bound reached before the time limit\(targetRatio.map { " (target ratio \(formatNumber($0)) not reached)" } ?? "")"): L <= \(formatNumber(r.upper)); attained: \(formatNumber(r.lower)); domains \(r.domains), time \(String(format: "%.3f", r.timeSeconds)) s (certified bound \(String(format: "%.3f", r.boundSeconds)) s)")
    }

    /// The exact values (`--exact`), one line per output and the overall line.
    func printExact(_ e: ExactLipschitzResult) {
        print("exact (GLPK MILP over activation patterns; a cross-check, not a certified bound):")
        print("output            exact   attained at point   unstable     status     time")
        func f(_ v: Double?) -> String { v.map { String(format: "%16.10g", $0) } ?? String(repeating: " ", count: 15) + "-" }
        for v in e.perOutput {
            print(String(format: "%6d ", v.output) + f(v.value) + "    " + f(v.attained) + String(format: " %10d ", v.unstableNeurons)
                  + v.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: " %7.3f s", v.timeSeconds))
        }
        print(" all   " + f(e.value) + "    " + f(e.attained))
        if e.complete {
            print("exact: L = \(formatNumber(e.value ?? .nan)) (GLPK's optimum); time \(String(format: "%.3f", e.timeSeconds)) s")
        } else {
            let why = e.perOutput.compactMap(\.message).first ?? "not solved"
            print("exact: not solved (\(why)); largest gradient norm attained: \(e.attained.map(formatNumber) ?? "-"); time \(String(format: "%.3f", e.timeSeconds)) s")
        }
    }
}

import ArgumentParser
import Certus
import Foundation

extension LipschitzNorm: ExpressibleByArgument {}

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
        """)
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Argument(help: "Region: a JSON spec {center, epsilon[, clip]} (a label is ignored) or a VNN-LIB file's input box.") var region: String
    @Option(help: "Input norm: inf, 2 or 1.") var norm: LipschitzNorm = .inf
    @Option(help: "Analyse only this output (default: all).") var output: Int?
    @Option(help: "Bound method on the Jacobian graph: crown or alpha-crown.") var method: BoundMethod = .alphaCrown
    @Option(help: "Uniform samples for the attained lower bound.") var samples: Int = 1000
    @Option(help: "Seed of the sampler.") var seed: UInt64 = 0
    @Option(help: "Time limit in seconds (the best certified bound reached is reported).") var timeout: Double = 60
    @Option(help: "Decide whether the constant is at most this value (exit code).") var max: Double?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let result: LipschitzResult = try reportingErrors {
            guard timeout > 0, timeout.isFinite else { throw CLIError("--timeout must be a positive number of seconds, got \(timeout)") }
            guard samples >= 0 else { throw CLIError("--samples must be >= 0, got \(samples)") }
            if let max, !max.isFinite { throw CLIError("--max must be a finite number, got \(max)") }
            guard method != .ibp else { throw CLIError("--method must be crown or alpha-crown") }
            let graph = try ModelFile.load(model)
            let boxes = try LipschitzRegion.load(path: region)
            for b in boxes where b.count != graph.inputCount {
                throw CLIError("\(region): the region has \(b.count) inputs, the model '\(model)' has \(graph.inputCount)")
            }
            if let output, output < 0 || output >= graph.outputCount {
                throw CLIError("--output \(output) does not exist: the model has \(graph.outputCount) outputs (0..\(graph.outputCount - 1))")
            }
            var s = LipschitzSettings()
            s.norm = norm
            s.outputs = output.map { [$0] }
            s.method = method
            s.samples = samples
            s.seed = seed
            s.deadline = Date(timeIntervalSinceNow: timeout)
            do {
                return try Lipschitz.analyze(model: graph, boxes: boxes, settings: s)
            } catch let e as JacobianError {
                throw CLIError("\(model): \(e.message)")
            }
        }
        if json { try printJSON(result) } else { printTable(result) }
        if let max {
            if result.upper <= max { throw ExitCode(0) }
            if result.lower > max { throw ExitCode(1) }
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
        print("\(r.complete ? "certified" : "best certified bound reached before the time limit"): L <= \(formatNumber(r.upper)); attained: \(formatNumber(r.lower)); domains \(r.domains), time \(String(format: "%.3f", r.timeSeconds)) s")
    }
}

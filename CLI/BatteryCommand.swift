import ArgumentParser
import Certus
import Foundation

struct Battery: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Soundness battery: random small networks of every operator, every bound and answer checked against sampled outputs.",
        discussion: """
            For each seed a random network and box is generated for the method (SoundnessBattery in the library). \
            ibp, crown, alpha-crown: every spec row's and intermediate neuron's bounds must contain the values at thousands \
            of sampled points and at the ends of a gradient search. input-split, relu-split, milp, auto: an unsat must \
            survive a dense search for a violating point, a sat counterexample must be in the box and violate. \
            Exit code 0 when nothing failed, 1 when some bound or answer was wrong (each failure names the seed that \
            replays it: --seeds N..<N+1 --verbose).
            """)
    @Option(help: "Methods, comma-separated: ibp, crown, alpha-crown, input-split, relu-split, milp, auto, or all.")
    var method: String = "all"
    @Option(help: "Seeds: N, A..<B or A...B.") var seeds: String = "0..<100"
    @Option(help: "Points sampled per network.") var samples: Int = 4000
    @Option(help: "Gradient steps per search (searches start from the best samples).") var searchSteps: Int = 40
    @Option(help: "Time limit of one verification, in seconds.") var timeout: Double = 2
    @Flag(help: "Print every network, its property, bounds and answer.") var verbose = false
    @Flag(help: "Print the reports as JSON.") var json = false

    func methods() throws -> [SoundnessBattery.Method] {
        if method == "all" { return SoundnessBattery.Method.allCases }
        return try method.split(separator: ",").map { s in
            guard let m = SoundnessBattery.Method(rawValue: String(s)) else {
                throw ValidationError("unknown method '\(s)'; methods: \(SoundnessBattery.Method.allCases.map(\.rawValue).joined(separator: ", ")), all")
            }
            return m
        }
    }

    static func parseSeeds(_ text: String) throws -> Range<UInt64> {
        func num(_ s: Substring) throws -> UInt64 {
            guard let v = UInt64(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("seeds: '\(s)' is not a non-negative integer") }
            return v
        }
        if let r = text.range(of: "..<") {
            let a = try num(text[..<r.lowerBound]), b = try num(text[r.upperBound...])
            guard a <= b else { throw ValidationError("seeds: empty range \(text)") }
            return a..<b
        }
        if let r = text.range(of: "...") {
            let a = try num(text[..<r.lowerBound]), b = try num(text[r.upperBound...])
            guard a <= b, b < UInt64.max else { throw ValidationError("seeds: empty range \(text)") }
            return a..<(b + 1)
        }
        let n = try num(Substring(text))
        guard n < UInt64.max else { throw ValidationError("seeds: \(text) is too large") }
        return n..<(n + 1)
    }

    func validate() throws {
        _ = try methods()
        _ = try Self.parseSeeds(seeds)
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
        guard searchSteps >= 0 else { throw ValidationError("--search-steps must be >= 0") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() throws {
        var config = SoundnessBattery.Configuration()
        config.samples = samples
        config.searchSteps = searchSteps
        config.timeout = timeout
        let range = try Self.parseSeeds(seeds)
        var reports: [SoundnessBattery.Report] = []
        for m in try methods() {
            var done = 0
            let report = SoundnessBattery.run(method: m, seeds: range, configuration: config) { o in
                done += 1
                if verbose {
                    FileHandle.standardError.write(Data((o.log.joined(separator: "\n") + "\n").utf8))
                } else if done % 100 == 0 {
                    FileHandle.standardError.write(Data("\(m.rawValue): \(done)/\(range.count) networks\n".utf8))
                }
            }
            reports.append(report)
            if !json { printSummary(report) }
        }
        if json { try printJSON(reports) }
        if reports.contains(where: { !$0.failures.isEmpty }) { throw ExitCode(Exit.wrongAnswer) }
    }

    func printSummary(_ r: SoundnessBattery.Report) {
        let outcomes = r.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("\(r.method) (\(r.family) networks, seeds \(r.seeds)): \(r.networks) networks in \(String(format: "%.1f", r.seconds)) s; \(outcomes)")
        print("  rows checked \(r.rowsChecked), intermediate neurons checked \(r.neuronsChecked), samples \(r.samples), search steps \(r.searchSteps)")
        if !r.elementwiseNodes.isEmpty {
            print("  elementwise nodes whose sampled inputs cross an extremum, inflection or kink: "
                  + r.elementwiseNodes.keys.sorted().map { "\($0) \(r.crossing[$0, default: 0])/\(r.elementwiseNodes[$0]!)" }.joined(separator: ", "))
        }
        if !r.largeInputs.isEmpty {
            print("  elementwise nodes whose sampled input reaches |x| >= 100: "
                  + r.largeInputs.keys.sorted().map { "\($0) \(r.largeInputs[$0]!)" }.joined(separator: ", "))
        }
        if let n = r.scales[SoundnessBattery.largeMagnitudeScale], n > 0 {
            print("  large-magnitude networks: \(n); " + r.largeMagnitudeOutcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        for (e, n) in r.reasons.sorted(by: { $0.value > $1.value }).prefix(8) { print("  \(n) x \(e)") }
        print("  failures: \(r.failures.count)")
        for f in r.failures.prefix(50) { print("    \(f)") }
        if r.failures.count > 50 { print("    ... \(r.failures.count - 50) more (use --json for all)") }
    }
}

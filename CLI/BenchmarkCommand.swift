import ArgumentParser
import Certus
import Foundation

struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time IBP, CROWN and alpha-CROWN on the standard cases beside the reference times.",
        discussion: """
            Per case and method: Certus's median time (model load excluded), the reference's time \
            (auto_LiRPA, from shared/reference/vnncomp) and their ratio (speed-up), the rate of the \
            pass's matrix products (GFLOP/s: 2 m n k per product over the pass's whole time) and \
            that rate as a fraction of the machine's dgemm rate, measured once at the start \
            (square 512 products, one BLAS thread).
            """)
    @Option(help: "The shared data folder.") var shared: String = "../shared"
    @Option(help: "Runs per case and method (the median is reported).") var runs: Int = 5
    @Option(help: "Methods, comma-separated.") var methods: String = "ibp,crown,alpha-crown"
    @Option(help: "Write the markdown table to this file as well.") var output: String?
    @Option(help: "Only cases whose name contains this text (e.g. ACAS, 256x6).") var filter: String?
    // Hidden: also time every pass without the engine's rounding guard (the cost of
    // rounding-safe bounds, docs/reliability.md). The switch never reaches verify or bounds.
    @Flag(help: .hidden) var roundingGuardCost = false

    func run() throws {
        let ms = try methods.split(separator: ",").map { s -> BoundMethod in
            guard let m = BoundMethod(rawValue: String(s)) else { throw ValidationError("unknown method '\(s)'") }
            return m
        }
        let dgemm = BoundsBenchmark.measureGemmRate()
        let results = try reportingErrors {
            let cases = BoundsBenchmark.standardCases(shared: shared).filter { filter == nil || $0.name.contains(filter!) }
            return try BoundsBenchmark.run(cases, methods: ms, runs: runs, roundingGuardCost: roundingGuardCost) {
                FileHandle.standardError.write(Data(($0 + "\n").utf8))
            }
        }
        let machine = "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.operatingSystemVersionString)"
        var table = BoundsBenchmark.markdown(results, runs: runs, machine: machine, dgemmRate: dgemm)
        if roundingGuardCost { table += "\n" + BoundsBenchmark.roundingGuardMarkdown(results, runs: runs) }
        print(table)
        if let output {
            try reportingErrors {
                do { try table.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                    throw CLIError("\(output): cannot write the table: \(error.localizedDescription)")
                }
            }
        }
    }
}

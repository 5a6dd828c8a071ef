import ArgumentParser
import Certus
import Foundation

extension BoundMethod: ExpressibleByArgument {}

struct Bounds: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bound every row of a property with IBP, CROWN or alpha-CROWN.",
        discussion: "Each row is an atom c . y <= d of the unsafe set; the bounds are of c . y - d over the input box. A clause is refuted when one of its rows has a positive lower bound; the property is verified when every clause is refuted.")
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Argument(help: "Property: .vnnlib or a JSON robustness spec.") var spec: String
    @Option(help: "ibp, crown or alpha-crown.") var method: BoundMethod = .crown
    @Option(help: "Time limit in seconds from the process's start, model loading included: alpha-CROWN reports the bounds reached by then; a pass still running 0.5 s after it ends the command with `timeout` (exit 2). Default: none.") var timeout: Double?
    @Option(help: "Arithmetic the bounds hold for: real (the network as a real-valued function) or float32 (as onnxruntime evaluates it in float32, on the box's float32 inputs; see docs/reliability.md).") var semantics: NumericSemantics = .real
    @Flag(help: "Print JSON (with \"semantics\").") var json = false

    func validate() throws {
        if let timeout, !(timeout.isFinite && timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() throws {
        let stop = timeout.map { SignalStop.plainTimeLimit(command: "bounds", limit: $0, json: json) }
        let report: PropertyBoundReport = try reportingErrors {
            let loaded = try Certus.Model.load(model)
            let left = timeout.map { max(1e-3, $0 - ProcessClock.elapsed) }
            var options = Certus.BoundsOptions(method: method, timeout: left)
            options.semantics = semantics
            return try Certus.bounds(model: loaded, spec: .file(spec), options: options)
        }
        if let stop { _ = try stop.finish { try output(report) } } else { try output(report) }
    }

    /// Prints the report: JSON, or the table of rows and the verdict.
    func output(_ report: PropertyBoundReport) throws {
        if json { try printJSON(report); return }
        print("method: \(report.method)   semantics: \(report.semantics.rawValue)   time: \(String(format: "%.4f", report.timeS)) s")
        print(" box clause row  " + "c . y <= d".padding(toLength: 24, withPad: " ", startingAt: 0) + "            lower            upper")
        var rowInClause: [String: Int] = [:]
        for r in report.rows {
            let key = "\(r.box)/\(r.clause)"
            let k = rowInClause[key, default: 0]
            rowInClause[key] = k + 1
            let terms = r.c.enumerated().filter { $0.element != 0 }.map { i, v in
                (v == 1 ? "+" : v == -1 ? "-" : (v > 0 ? "+\(v)" : "\(v)")) + "y\(i)"
            }.joined()
            let text = "\(terms) <= \(r.d)"
            print(String(format: "%4d %6d %3d  %-24@ %16.8g %16.8g", r.box, r.clause, k, text.count > 24 ? String(text.prefix(21)) + "..." : text, r.lower, r.upper))
        }
        print("property lower bound: \(report.propertyLower)")
        print(report.verified ? "verified: every unsafe clause is refuted" : "not verified by \(report.method)")
        fflush(stdout)
    }
}

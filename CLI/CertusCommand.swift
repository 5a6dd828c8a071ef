import ArgumentParser
import Certus
import Foundation

@main
struct CertusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certus",
        abstract: "Certus: a neural-network verifier.",
        discussion: "Exit codes: 0 success / property holds (unsat), 1 property violated (sat), 2 unknown or timeout, 3 bad input (file, model, spec), 64 bad usage, 70 internal error, 130/143 stopped by SIGINT/SIGTERM (the partial result written first). JSON output writes non-finite numbers as the strings \"inf\", \"-inf\", \"nan\".",
        subcommands: [Inspect.self, Supports.self, Eval.self, Convert.self, Verify.self, Run.self, Bounds.self, LipschitzCommand.self, Check.self, Benchmark.self, Battery.self]
    )
}

func formatShape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's inputs, outputs, operators and size.")
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let summary = try reportingErrors { try Certus.inspect(model: .file(model)) }
        if json { try printJSON(summary); return }
        print("model:      \(summary.file)")
        print("ir version: \(summary.irVersion), opset \(summary.opset)\(summary.producer.isEmpty ? "" : ", producer \(summary.producer)")")
        for i in summary.inputs { print("input:      '\(i.name)' \(formatShape(i.shape))") }
        for o in summary.outputs { print("output:     '\(o.name)' \(formatShape(o.shape))") }
        print("parameters: \(summary.parameters)")
        print("operators:  " + summary.opCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }
}

struct Supports: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the supported ONNX operators with the opsets each is implemented for.",
        discussion: "One line per operator: op type and opset range (default ONNX domain). A model with other operators is refused at load, every unsupported one named.")
    @Flag(help: "Print JSON: [{op_type, min_opset, max_opset}].") var json = false

    func run() throws {
        let entries = Certus.supportedOperators
        if json { try printJSON(entries); return }
        let w = entries.map(\.opType.count).max() ?? 0
        for e in entries {
            print(e.opType + String(repeating: " ", count: w - e.opType.count) + "  opset \(e.minOpset)-\(e.maxOpset)")
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a model on one input and print its outputs.")
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Option(parsing: .unconditional, help: "Input values, flattened row-major, separated by commas (may start with a minus sign).") var input: String?
    @Option(help: "File holding the input as a JSON array (nested arrays are flattened row-major).") var inputFile: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (input == nil) != (inputFile == nil) else {
            throw ValidationError("give exactly one of --input or --input-file")
        }
    }

    func run() throws {
        let outputs = try reportingErrors {
            let x = try inputFile.map { try InputValues.load(file: $0) } ?? InputValues.parse(list: input ?? "")
            return try Certus.evaluate(model: .file(model), input: x)
        }
        if json { try printJSON(["outputs": outputs]); return }
        for o in outputs {
            print("\(o.name) \(formatShape(o.shape)): " + o.values.map(formatNumber).joined(separator: " "))
        }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model between binary ONNX (.onnx) and ONNX-JSON (.json), chosen by extension.")
    @Argument(help: "Input model.") var input: String
    @Argument(help: "Output path; .json writes ONNX-JSON, anything else binary ONNX.") var output: String

    func run() throws {
        let encoding = try reportingErrors { try Certus.convert(model: input, to: output) }
        print("wrote \(output) (\(encoding))")
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a property: answers sat (with a checked counterexample), unsat, unknown or timeout.",
        discussion: """
            The first line of output is the answer. For sat the counterexample follows in VNN-COMP form \
            ((X_0 v) ... (Y_0 v) ...). Exit code 0 unsat, 1 sat, 2 unknown or timeout, 3 bad input, 130/143 stopped by SIGINT/SIGTERM (the partial result, timeout, written first).
            """)
    @Argument(help: "Model file (.onnx or ONNX-JSON .json).") var model: String
    @Argument(help: "Property: a VNN-LIB file or a JSON robustness spec {center, epsilon, label[, clip]}.") var spec: String
    @Option(help: "Time limit in seconds.") var timeout: Double = VerifierSettings().timeout
    @Option(help: "Seed of the attack's random generator.") var seed: UInt64 = VerifierSettings().seed
    @Option(help: "Projected-gradient restarts per input box and clause.") var restarts: Int = VerifierSettings().attackRestarts
    @Flag(help: "Keep restarting the attack until the time limit (a failed attack then ends in timeout).") var attackUntilTimeout = false
    @Option(help: "Procedure after the attack: \(VerificationMethod.allCases.map(\.rawValue).joined(separator: ", ")). auto picks by the problem (see README).") var method: VerificationMethod = .auto
    @Option(help: "Branch and bound: how the neuron to split is chosen: \(BranchingHeuristic.allCases.map(\.rawValue).joined(separator: ", ")). auto: babsr on ReLU networks, bbps (GenBaB) otherwise.") var branching: BranchingHeuristic = .auto
    @Option(help: "Branch and bound: where smooth activations are split: opt (GenBaB's pre-optimised points) or mid (the midpoint).") var branchPoints: BranchingPointStrategy = .optimized
    @Option(help: "Also write the VNN-COMP result text (answer line, then the counterexample) to this file.") var resultFile: String?
    @Option(help: "Resident memory limit, e.g. 2G, 512M (a plain number is MiB): the searches stop at it and the answer is unknown.") var memoryLimit: String?
    @Option(help: "Arithmetic the answer holds for: real (the network as a real-valued function) or float32 (as onnxruntime evaluates it in float32, on the box's float32 inputs; see docs/reliability.md).") var semantics: NumericSemantics = .real
    @Flag(help: "Print a JSON object (status, counterexample {x, y}, time_s, method, details, semantics).") var json = false

    func validate() throws {
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds") }
        guard restarts >= 0 else { throw ValidationError("--restarts must be >= 0") }
        if let memoryLimit { _ = try parseMemorySize(memoryLimit) }
    }

    func run() throws {
        let started = Date()
        let this = self
        // SIGINT/SIGTERM: the search stops as at its time limit and the partial result is written;
        // if it has not come 1.5 s after the signal, a plain `timeout` is written instead.
        let stop = SignalStop { signal in
            let r = VerificationResult(status: .timeout, timeSeconds: Date().timeIntervalSince(started), method: "none",
                                       details: [SignalStop.message(signal, command: "verify") + "; the search did not return in time"])
            try? this.write(r, signal: signal)
            // The same line on stderr as when the search returns (below).
            FileHandle.standardError.write(Data((SignalStop.message(signal, command: "verify") + "\n").utf8))
        }
        // The time limit, guaranteed: `timeout` seconds after the process started (model loading
        // included), plus a 0.5 s grace for the library's own stop, the watchdog writes `timeout`
        // with the last progress of the search (its global lower bound) and exits.
        let last = LastProgress()
        stop.armDeadline(limit: timeout, exitCode: VerificationStatus.timeout.exitCode) { signal in
            let elapsed = ProcessClock.elapsed
            var details = [String(format: "certus verify: time limit of %g s reached (the watchdog: no answer %.2f s after it)",
                                  this.timeout, elapsed - this.timeout)]
            if let p = last.value { details.append("last progress: " + ProgressLine.format(p)) }
            let r = VerificationResult(status: .timeout, timeSeconds: elapsed, method: "none", details: details)
            try? this.write(r, signal: signal, stopNote: signal == nil ? details[0] : nil)
        }
        let result: VerificationResult = try reportingErrors {
            // The model is read first, so that the search's own limit is what is left of the
            // process's (`ProcessClock`).
            let loaded = try Certus.Model.load(model)
            // Test hook (DeadlineCLITests): a stage this many seconds long without a single stop
            // check, as a long model load or GLPK call would be, to exercise the watchdog.
            if let stall = ProcessInfo.processInfo.environment["CERTUS_TEST_STALL_SECONDS"].flatMap(Double.init), stall > 0 {
                usleep(UInt32(min(stall, 60) * 1e6))
            }
            var options = Certus.VerifyOptions(method: method, timeout: max(1e-3, timeout - ProcessClock.elapsed))
            options.stop = stop.token
            options.settings.memoryLimit = try memoryLimit.map(parseMemorySize)
            options.seed = seed
            options.settings.attackRestarts = restarts
            options.settings.attackUntilDeadline = attackUntilTimeout
            options.settings.reluSplit.branching = branching
            options.settings.reluSplit.branchPoints = branchPoints
            options.settings.semantics = semantics
            let line = ProgressLine.forStderr(enabled: !json)
            defer { line?.clear() }
            options.progress = last.recording(line?.handler(prefix: ""))
            return try Certus.verify(model: loaded, spec: .file(spec), options: options)
        }
        if let signal = try stop.finish({ try write(result, signal: stop.signal) }) {
            FileHandle.standardError.write(Data((SignalStop.message(signal, command: "verify") + "\n").utf8))
            throw ExitCode(128 + signal)
        }
        throw ExitCode(result.status.exitCode)
    }

    /// Writes the result: the result file (if any), then stdout (JSON or the VNN-COMP text). After
    /// a signal the text gets comment lines (`; ...`, which VNN-LIB readers skip): the stop and the
    /// last lines of the log (the search's global lower bound).
    /// `stopNote` (the watchdog's) gives the same comment lines without a signal.
    func write(_ result: VerificationResult, signal: Int32?, stopNote: String? = nil) throws {
        var text = result.resultText
        if let signal {
            text += "; " + SignalStop.message(signal, command: "verify") + " after " + String(format: "%.2f s", result.timeSeconds) + "\n"
        }
        if signal != nil || stopNote != nil {
            for line in result.details.suffix(3) { text += "; " + line.replacingOccurrences(of: "\n", with: " ") + "\n" }
        }
        if let resultFile {
            try reportingErrors {
                do { try text.write(toFile: resultFile, atomically: true, encoding: .utf8) } catch {
                    throw CLIError("\(resultFile): cannot write the result file: \(error.localizedDescription)")
                }
            }
        }
        if json { try printJSON(result) } else {
            print(text, terminator: "")
            // How the counterexample differs from a plain float32 one (non-float32 coordinates,
            // zero-slack atoms), as comment lines that VNN-LIB readers skip.
            if result.status == .sat, let cx = result.counterexample { for n in cx.notes { print("; " + n) } }
            // The semantics when it is not the default (real), as a comment line.
            if result.semantics != .real { print("; semantics: \(result.semantics.rawValue) (the answer holds for the network evaluated in float32)") }
        }
        fflush(stdout)
    }
}

extension VerificationMethod: ExpressibleByArgument {}
extension NumericSemantics: ExpressibleByArgument {}
extension BranchingHeuristic: ExpressibleByArgument {}
extension BranchingPointStrategy: ExpressibleByArgument {}

/// The live progress line of branch-and-bound provers on stderr: only on a terminal, rewritten in
/// place (the library throttles the callback to a few calls per second).
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var shown = false

    /// A line when stderr is a terminal and `enabled`, nil otherwise (silent).
    static func forStderr(enabled: Bool) -> ProgressLine? {
        enabled && isatty(2) == 1 ? ProgressLine() : nil
    }

    static func format(_ p: BranchAndBoundProgress) -> String {
        "\(p.prover): \(p.open) open, \(p.done) done, \(p.bounded) bounded, "
            + (p.depth > 0 ? "depth \(p.depth), " : "") + "lower bound "
            + String(format: "%.4g", p.globalLowerBound) + ", " + String(format: "%.1f s", p.elapsed)
    }

    func handler(prefix: String) -> ProgressHandler {
        { [self] p in
            lock.lock(); defer { lock.unlock() }
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + prefix + ProgressLine.format(p)).utf8))
            shown = true
        }
    }

    /// Erases the line if something was shown.
    func clear() {
        lock.lock(); defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); shown = false }
    }
}

/// A memory size for `--memory-limit`: a number with an optional binary suffix K, M, G or T
/// (`2G`, `512M`, `1.5G`); a plain number is MiB. Returns bytes.
func parseMemorySize(_ text: String) throws -> Double {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
    var number = Substring(t), unit = 1_048_576.0
    if let last = t.last, let u = units[last] { number = t.dropLast(); unit = u }
    if number.hasSuffix("I") || number.hasSuffix("B") { throw ValidationError("--memory-limit: write 2G or 512M, got '\(text)'") }
    guard let v = Double(number), v.isFinite, v > 0, v * unit >= 1_048_576 else {
        throw ValidationError("--memory-limit must be a size of at least 1M such as 2G or 512M (a plain number is MiB), got '\(text)'")
    }
    return v * unit
}

/// The last branch-and-bound progress report of a search (for the watchdog's partial result).
final class LastProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var last: BranchAndBoundProgress? = nil
    var value: BranchAndBoundProgress? { lock.lock(); defer { lock.unlock() }; return last }

    /// A handler that keeps each report, then passes it on to `next` (if any).
    func recording(_ next: ProgressHandler?) -> ProgressHandler {
        { [self] p in
            lock.lock(); last = p; lock.unlock()
            next?(p)
        }
    }
}

/// The records of the instances finished so far (for the output of a stopped run).
final class FinishedRecords: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [BatchRecord] = []
    func add(_ r: BatchRecord) { lock.lock(); records.append(r); lock.unlock() }
    var all: [BatchRecord] { lock.lock(); defer { lock.unlock() }; return records }
}

/// A message for the user (printed as "error: <message>").
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify every instance of a VNN-COMP instance list (onnx,vnnlib,timeout) and summarise.",
        discussion: """
            Progress goes to stderr, one line per instance; the summary table to stdout. Each instance runs in a \
            child process of its own (unless --in-process): a crash of one is that instance's error and the run \
            goes on. Exit code 0, or 1 if some answer contradicts --expected, or 3 if the list or an instance's \
            files are bad or an instance crashed, or 130/143 when stopped by SIGINT/SIGTERM (the running instance \
            ends as timeout; the instances run so far are summarised and written to --json-out).
            """)
    @Argument(help: "Instance list CSV: onnx,vnnlib,timeout (header optional; paths relative to the CSV's folder).") var instances: String
    @Option(help: "Expected answers CSV: onnx,vnnlib,expected (sat, unsat or unknown).") var expected: String?
    @Option(help: "Multiply every instance's timeout by this factor.") var timeoutScale: Double = 1
    @Option(help: "Seed of the attack's random generator.") var seed: UInt64 = VerifierSettings().seed
    @Option(help: "Projected-gradient restarts per input box and clause.") var restarts: Int = VerifierSettings().attackRestarts
    @Flag(help: "Keep restarting the attack until each instance's time limit (a failed attack then ends in timeout).") var attackUntilTimeout = false
    @Option(help: "Procedure after the attack: \(VerificationMethod.allCases.map(\.rawValue).joined(separator: ", ")). auto picks per instance (see README).") var method: VerificationMethod = .auto
    @Option(help: "Branch and bound: how the neuron to split is chosen: \(BranchingHeuristic.allCases.map(\.rawValue).joined(separator: ", ")). auto: babsr on ReLU networks, bbps (GenBaB) otherwise.") var branching: BranchingHeuristic = .auto
    @Option(help: "Branch and bound: where smooth activations are split: opt (GenBaB's pre-optimised points) or mid (the midpoint).") var branchPoints: BranchingPointStrategy = .optimized
    @Option(help: "Write one JSON object per instance (onnx, vnnlib, status, time_s, expected, ...) to this file.") var jsonOut: String?
    @Option(help: "Resident memory limit per instance, e.g. 2G, 512M (a plain number is MiB): the searches stop at it and the answer is unknown.") var memoryLimit: String?
    @Option(help: "Arithmetic the answers hold for: real or float32 (see certus verify --help).") var semantics: NumericSemantics = .real
    @Flag(help: "Run the instances in this process (no child processes: each model is loaded once, but a crash ends the whole run; an instance still running 0.5 s after its limit is recorded as timeout and left behind).") var inProcess = false
    @Option(help: "Kill an instance's child process this many seconds after its time limit (default: 30, or half the limit when that is longer); it then counts as a timeout.") var killAfter: Double?
    @Option(help: .hidden) var instance: Int?

    func validate() throws {
        guard timeoutScale.isFinite, timeoutScale > 0 else { throw ValidationError("--timeout-scale must be a positive number") }
        guard restarts >= 0 else { throw ValidationError("--restarts must be >= 0") }
        if let killAfter, !(killAfter.isFinite && killAfter >= 0) { throw ValidationError("--kill-after must be a number of seconds >= 0") }
        if let memoryLimit { _ = try parseMemorySize(memoryLimit) }
    }

    /// The arguments of the child process that runs instance `index` (the same options, no outputs).
    func childArguments(_ index: Int) -> [String] {
        var a = ["run", instances, "--instance", String(index), "--timeout-scale", String(timeoutScale), "--seed", String(seed),
                 "--restarts", String(restarts), "--method", method.rawValue, "--branching", branching.rawValue,
                 "--branch-points", branchPoints.rawValue, "--semantics", semantics.rawValue]
        if attackUntilTimeout { a.append("--attack-until-timeout") }
        if let expected { a += ["--expected", expected] }
        if let memoryLimit { a += ["--memory-limit", memoryLimit] }
        return a
    }

    func run() throws {
        if instance != nil { ParentWatch.start() }
        let (list, answers) = try reportingErrors {
            (try Certus.instances(instances), try expected.map { try Certus.expectedAnswers($0) })
        }
        if let instance {
            guard instance >= 0, instance < list.count else { throw ValidationError("--instance \(instance) does not exist") }
            return try runChild(list, answers, index: instance)
        }
        var options = try batchOptions()
        let interactive = isatty(2) == 1
        let progressLine = ProgressLine.forStderr(enabled: true)
        let stderr = FileHandle.standardError
        let width = String(list.count).count
        let count = list.count
        @Sendable func label(_ i: Int, _ inst: BatchInstance) -> String {
            let idx = String(i); let pad = String(repeating: " ", count: max(0, width - idx.count))
            return "[\(pad)\(idx)/\(count)] \(inst.onnx) \(inst.vnnlib)"
        }
        // SIGINT/SIGTERM: the running instance stops as at its time limit, no other starts, and the
        // records so far are written; if the run has not returned 1.5 s after the signal, the
        // finished records are written without the running one.
        // A child process gets the signal passed on, stops its instance and reports it; the fallback
        // waits longer for that.
        let finished = FinishedRecords()
        let this = self
        let children = RunChild.Running()
        let stop = SignalStop(fallbackAfter: inProcess ? SignalStop.fallbackAfter : 4, onSignal: { children.signal($0) }) { signal in
            let done = finished.all
            try? this.writeOutputs(done, BatchSummary(records: done), hasExpected: answers != nil, signal: signal, total: list.count)
        }
        options.stop = stop.token
        // In this process, each instance's limit is kept by a watchdog of its own (as a child's,
        // `armDeadline`): an instance that has not returned 0.5 s after its limit (counted from
        // its start, loading included) is recorded as `timeout` and the run goes on.
        if inProcess { options.watchdogGrace = SignalStop.deadlineGrace }
        if !inProcess {
            let scale = timeoutScale, grace = killAfter
            options.execute = { k, inst, want in
                RunChild.run(arguments: this.childArguments(k), instance: inst, expected: want, timeLimit: inst.timeout * scale,
                             killAfter: grace, running: children)
            }
        }
        let (records, summary) = Certus.run(list, expected: answers, options: options) { event in
            if case .finished(_, let r) = event { finished.add(r) }
            switch event {
            case .started(let k, let inst):
                if interactive { stderr.write(Data("\(label(k + 1, inst)) ...".utf8)) }
            case .search(let k, let p):
                progressLine?.handler(prefix: "\(label(k + 1, list[k])) ... ")(p)
            case .finished(let k, let r):
                var line = "\(label(k + 1, list[k])): \(r.status.rawValue) \(String(format: "%.2f", r.timeSeconds)) s"
                if let e = r.expected { line += " (expected \(e.rawValue)\(r.verdict == .wrong ? ", WRONG" : ""))" }
                if let err = r.error { line += " error: \(err)" }
                stderr.write(Data(((interactive ? "\r\u{1B}[K" : "") + line + "\n").utf8))
            }
        }
        if let signal = try stop.finish({
            try writeOutputs(records, summary, hasExpected: answers != nil, signal: stop.signal, total: list.count)
        }) {
            throw ExitCode(128 + signal)
        }
        if summary.wrong > 0 { throw ExitCode(Exit.wrongAnswer) }
        if summary.errors > 0 { throw ExitCode(Exit.badInput) }
    }

    /// Child mode (`--instance K`, started by `run` itself): runs instance K in this process and
    /// prints its record as JSON on stdout. SIGINT/SIGTERM stop it as its time limit would (the
    /// record then says `timeout`); if it has not returned 1.5 s later, a `timeout` record is printed.
    /// The batch options the flags give, for the run and for each child instance alike.
    func batchOptions() throws -> Certus.BatchOptions {
        var options = Certus.BatchOptions()
        options.settings.seed = seed
        options.settings.attackRestarts = restarts
        options.settings.attackUntilDeadline = attackUntilTimeout
        options.settings.reluSplit.branching = branching
        options.settings.reluSplit.branchPoints = branchPoints
        options.settings.semantics = semantics
        options.timeoutScale = timeoutScale
        options.method = method
        options.settings.memoryLimit = try memoryLimit.map(parseMemorySize)
        // Test hook (DeadlineCLITests): a stage this long after loading without any stop check.
        options.stallAfterLoading = ProcessInfo.processInfo.environment["CERTUS_TEST_STALL_SECONDS"].flatMap(Double.init)
        return options
    }

    func runChild(_ list: [BatchInstance], _ answers: ExpectedAnswers?, index: Int) throws {
        let inst = list[index]
        let want = answers?.expected(for: inst)
        // Test hook (SignalCLITests): an instance whose process crashes, to check that the run survives it.
        if ProcessInfo.processInfo.environment["CERTUS_RUN_TEST_CRASH"] == String(index) {
            fatalError("crash requested by CERTUS_RUN_TEST_CRASH")
        }
        let started = Date(), limit = inst.timeout * timeoutScale
        let stop = SignalStop { _ in
            let r = BatchRecord(onnx: inst.onnx, vnnlib: inst.vnnlib, status: .timeout, timeSeconds: Date().timeIntervalSince(started),
                                timeLimit: limit, method: "none", expected: want, verdict: BatchRecord.verdict(status: .timeout, expected: want))
            try? printJSON(r)
        }
        // The time limit, guaranteed (as for `verify`): a `timeout` record (method "watchdog"),
        // exit 0 as for any record.
        stop.armDeadline(limit: limit, exitCode: 0) { _ in
            let r = BatchRecord(onnx: inst.onnx, vnnlib: inst.vnnlib, status: .timeout, timeSeconds: ProcessClock.elapsed,
                                timeLimit: limit, method: "watchdog", expected: want, verdict: BatchRecord.verdict(status: .timeout, expected: want))
            try? printJSON(r)
        }
        var options = try batchOptions()
        options.stop = stop.token
        // The instance's limit counts from this process's start (the runtime's start-up and the
        // model's loading included), as the watchdog's does.
        options.firstStart = ContinuousClock.now - .nanoseconds(Int64(ProcessClock.elapsed * 1e9))
        let one = ExpectedAnswers(answers: want.map { ["\(inst.onnx),\(inst.vnnlib)": $0] } ?? [:])
        let (records, _) = Certus.run([inst], expected: one, options: options)
        _ = try stop.finish {
            if let r = records.first { try printJSON(r) }
        }
    }

    /// Writes `--json-out` and prints the summary; after a signal, says on stderr how many
    /// instances were run.
    func writeOutputs(_ records: [BatchRecord], _ summary: BatchSummary, hasExpected: Bool, signal: Int32?, total: Int) throws {
        if let jsonOut {
            try reportingErrors {
                let data = try JSONOutput.encode(records)
                do { try data.write(to: URL(fileURLWithPath: jsonOut)) } catch {
                    throw CLIError("\(jsonOut): cannot write the JSON output: \(error.localizedDescription)")
                }
            }
        }
        print(formatSummary(summary, hasExpected: hasExpected))
        fflush(stdout)
        if let signal {
            FileHandle.standardError.write(Data((SignalStop.message(signal, command: "run")
                + "; \(records.count) of \(total) instances run\n").utf8))
        }
    }

    func formatSummary(_ s: BatchSummary, hasExpected: Bool) -> String {
        var rows: [(String, String)] = [
            ("instances", "\(s.instances)"),
            ("sat", "\(s.sat)"), ("unsat", "\(s.unsat)"), ("unknown", "\(s.unknown)"), ("timeout", "\(s.timeout)"),
        ]
        if s.errors > 0 { rows.append(("errors (bad input, crash)", "\(s.errors)")) }
        if hasExpected {
            rows += [("correct", "\(s.correct)"), ("wrong", "\(s.wrong)"), ("unsolved", "\(s.unsolved)"),
                     ("no expected answer", "\(s.unchecked)")]
        }
        rows += [("total time (s)", String(format: "%.2f", s.totalTime)), ("median time (s)", String(format: "%.3f", s.medianTime))]
        // The arithmetic the answers hold for, when it is not the default (real).
        if semantics != .real { rows.append(("semantics", semantics.rawValue)) }
        let w = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0 + String(repeating: " ", count: w - $0.0.count) + "  " + $0.1 }.joined(separator: "\n")
    }
}

import ArgumentParser
import Certus
import Foundation

extension CheckPolicy: ExpressibleByArgument {}

/// `certus check MANIFEST`: runs a manifest of expected properties as a CI gate (the library's
/// `CheckRunner`); this command parses, runs each entry in a child process, and prints.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a manifest of expected properties (holds, violated, lipschitz <= L, bound(k) >= v): a CI gate with JUnit and JSON reports.",
        discussion: """
            MANIFEST is YAML or JSON (see the README, "Use Certus in CI"); paths in it are relative to its folder. \
            Entries run on --jobs workers, each in its own child process (a crash or a hang of one entry is that entry's \
            error or timeout; the others go on). A table goes to stdout, a live progress line to stderr when it is a terminal. \
            Exit codes: 0 every entry passed (undecided ones only under a warn policy); 1 some expectation failed \
            (a counterexample to 'holds', a proof against 'violated', a Lipschitz constant or bound past its limit); \
            2 no failure and no error, but some entry undecided (unknown or timeout) under the fail policy; \
            3 some entry could not be run (a bad or missing file) and none failed, or the manifest itself is bad \
            (the file, line and field are named; --junit/--json then get a report with one error naming it); \
            64 bad usage; 70 internal error; 130 stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM: the running \
            entries' child processes are stopped (SIGTERM, then SIGKILL), and the table and the reports are written \
            with the finished entries' results and the others as errors ("interrupted"). The manifest must be a \
            regular file (each child process reads it again by its path); relative paths in it resolve against the \
            folder of the path given (a symbolic link's folder, not its target's).
            """)
    @Argument(help: "The manifest (.yaml, .yml or .json).") var manifest: String
    @Option(help: "Entries run at once (default: one per core).") var jobs: Int?
    @Option(help: "Write a JUnit XML report to this file.") var junit: String?
    @Option(help: "Write the full results as JSON to this file.") var json: String?
    @Option(help: "What an undecided entry (status unknown) counts as: fail or warn.") var unknown: CheckPolicy = .fail
    @Option(name: .customLong("timeout-policy"), help: "What an entry that reached its time limit counts as: fail or warn.") var timeoutPolicy: CheckPolicy = .fail
    @Option(help: "Run only the entries with one of these tags (comma-separated).") var tags: String?
    @Flag(help: "Run the entries in this process (no child processes: faster to start, but a crash ends the whole run).") var inProcess = false
    @Option(help: "Kill an entry's child process this many seconds after the entry's time limit (default: 30, or half the limit when that is longer); it then counts as a timeout.") var killAfter: Double?
    @Option(help: .hidden) var entry: Int?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
        if let tags, tags.split(separator: ",").isEmpty { throw ValidationError("--tags needs at least one tag") }
        if let killAfter, !(killAfter.isFinite && killAfter >= 0) { throw ValidationError("--kill-after must be a number of seconds >= 0") }
    }

    func run() throws {
        if entry != nil { ParentWatch.start() }
        let m: Manifest
        do { m = try Certus.manifest(manifest) } catch {
            // No stale reports from an earlier run: the reports say what went wrong.
            if entry == nil, junit != nil || json != nil {
                let message = VisibleText.escaped((error as? CertusError)?.message ?? "\(error)")
                let tagList = tags.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                let report = CheckReport.manifestProblem(manifest: manifest, message: message,
                                                         policies: CheckPolicies(unknown: unknown, timeout: timeoutPolicy),
                                                         selectedTags: tagList)
                if let problem = writeReports(report) { FileHandle.standardError.write(Data("error: \(problem)\n".utf8)) }
            }
            throw Failure.report(error)
        }
        var options = CheckOptions()
        if let jobs { options.jobs = jobs }
        options.policies = CheckPolicies(unknown: unknown, timeout: timeoutPolicy)
        if entry == nil { options.tags = tags.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } }
        let runner: CheckRunner
        do { runner = try Certus.checkRunner(m, options: options) } catch let e as CertusError where e.kind == .settings {
            throw ValidationError(e.message)
        }

        // Child mode: one entry, its result as JSON on stdout.
        if let entry {
            guard entry >= 0, entry < m.entries.count else { throw ValidationError("--entry \(entry) does not exist") }
            // Test hook (CheckCLITests): a child that crashes or hangs, to check that the run survives it.
            let env = ProcessInfo.processInfo.environment
            if let name = m.entries[entry].name, env["CERTUS_CHECK_TEST_CRASH"] == name { fatalError("crash requested by CERTUS_CHECK_TEST_CRASH") }
            if let name = m.entries[entry].name, (env["CERTUS_CHECK_TEST_HANG"] ?? "").split(separator: ",").contains(Substring(name)) {
                while true { sleep(60) }
            }
            if let name = m.entries[entry].name, env["CERTUS_CHECK_TEST_SIGKILL"] == name { kill(getpid(), SIGKILL) }
            try printJSON(runner.runEntry(at: entry))
            return
        }

        let line = CheckProgressLine.forStderr()
        let finished = FinishedResults()
        let showProgress = line?.handler
        let progress: @Sendable (CheckProgress) -> Void = { p in
            if let r = p.justFinished { finished.add(r) }
            showProgress?(p)
        }
        let stop = CheckInterruption.shared
        var execute: (@Sendable (Int) -> CheckEntryResult)? = nil
        if !inProcess {
            let path = manifest, grace = killAfter
            execute = { index in ChildRun.run(runner: runner, manifest: path, index: index, killAfter: grace) }
            // Stopping: the children are stopped, the run ends with their entries as interrupted.
            stop.install(onSignal: nil)
        } else {
            // In one process a running entry cannot be stopped: the reports are written with the
            // finished entries and the process ends at once.
            let this = self, started = Date()
            stop.install { signal in
                line?.clear()
                let report = this.interruptedReport(runner: runner, finished: finished.all, signal: signal,
                                                    timeSeconds: Date().timeIntervalSince(started))
                let problem = this.writeReports(report)
                print(report.table(), terminator: "")
                fflush(stdout)
                FileHandle.standardError.write(Data(("certus check: stopped by \(CheckInterruption.name(signal))"
                    + (problem.map { "; error: \($0)" } ?? "") + "\n").utf8))
                Foundation.exit(128 + signal)
            }
        }
        var report = runner.run(execute: execute, progress: progress)
        line?.clear()
        if let signal = stop.signal {
            report = interruptedReport(runner: runner, finished: report.results.filter { !CheckInterruption.isInterrupted($0) },
                                       signal: signal, timeSeconds: report.timeSeconds)
        }

        let writeError = writeReports(report)
        print(report.table(), terminator: "")
        if let signal = stop.signal {
            fflush(stdout)
            FileHandle.standardError.write(Data(("certus check: stopped by \(CheckInterruption.name(signal)); "
                + "\(report.results.filter { !CheckInterruption.isInterrupted($0) }.count) of \(report.results.count) entries finished"
                + (writeError.map { "; error: \($0)" } ?? "") + "\n").utf8))
            throw ExitCode(report.exitCode)
        }
        if let writeError { throw Failure.report(CLIError(writeError)) }
        throw ExitCode(report.exitCode)
    }

    /// Writes the --junit and --json reports; returns what could not be written.
    func writeReports(_ report: CheckReport) -> String? {
        var writeError: String? = nil
        func write(_ data: Data, to path: String, what: String) {
            do { try data.write(to: URL(fileURLWithPath: path)) } catch {
                writeError = "\(path): cannot write the \(what): \(error.localizedDescription)"
            }
        }
        if let junit { write(Data(report.junitXML().utf8), to: junit, what: "JUnit report") }
        if let json {
            do { write(try report.jsonData(), to: json, what: "JSON report") } catch {
                writeError = "\(json): cannot encode the JSON report: \(error)"
            }
        }
        return writeError
    }

    /// The report of a run stopped by `signal`: the finished entries' results, every other
    /// selected entry as an `error` whose message starts with "interrupted", and the exit code
    /// 128 + signal (130 for SIGINT, 143 for SIGTERM).
    func interruptedReport(runner: CheckRunner, finished: [CheckEntryResult], signal: Int32, timeSeconds: Double) -> CheckReport {
        let done = Dictionary(finished.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        let results = runner.selected.map { index in
            done[index] ?? {
                var r = runner.blankResult(at: index)
                r.message = CheckInterruption.message(signal)
                r.outcome = runner.options.policies.outcome(for: r.status)
                return r
            }()
        }
        var report = CheckReport(suite: runner.manifest.suiteName, manifest: runner.manifest.path, selectedTags: runner.options.tags,
                                 policies: runner.options.policies, results: results, timeSeconds: timeSeconds)
        report.exitCode = 128 + signal
        return report
    }
}

/// The results of the entries finished so far (for the report of a stopped in-process run).
private final class FinishedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [CheckEntryResult] = []
    func add(_ r: CheckEntryResult) { lock.lock(); results.append(r); lock.unlock() }
    var all: [CheckEntryResult] { lock.lock(); defer { lock.unlock() }; return results }
}

/// Stopping `certus check` (SIGINT from Ctrl-C, SIGTERM from a CI runner or `kill`): the signals
/// are taken by Dispatch signal sources (the default action is turned off first), never by C
/// handlers, so the work they start runs on an ordinary queue. The children of the running
/// entries get SIGTERM, then SIGKILL after `grace` seconds; entries not yet started are not
/// started. Ctrl-C reaches only the parent (each child is in its own process group).
final class CheckInterruption: @unchecked Sendable {
    static let shared = CheckInterruption()
    /// Seconds between SIGTERM and SIGKILL to a child that is still running.
    static let grace: Double = 2

    private let lock = NSLock()
    private var children = Set<pid_t>()
    private var received: Int32? = nil
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "certus.check.signals")

    /// The first signal received (SIGINT or SIGTERM), if any.
    var signal: Int32? { lock.lock(); defer { lock.unlock() }; return received }

    /// Takes SIGINT and SIGTERM; `onSignal` (if any) runs on the signal queue after the children
    /// have been told to stop.
    func install(onSignal: ((Int32) -> Void)?) {
        for s in [SIGINT, SIGTERM] {
            ignoreSignal(s)
            let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
            source.setEventHandler { [unowned self] in self.receive(s, then: onSignal) }
            source.resume()
            sources.append(source)
        }
    }

    private func receive(_ s: Int32, then onSignal: ((Int32) -> Void)?) {
        lock.lock()
        let first = received == nil
        if first { received = s }
        let pids = children
        lock.unlock()
        // A second signal: no more grace.
        for pid in pids { kill(pid, first ? SIGTERM : SIGKILL) }
        if first { killLater() }
        if first { onSignal?(s) }
    }

    private func killLater() {
        queue.asyncAfter(deadline: .now() + CheckInterruption.grace) { [self] in
            lock.lock(); let pids = children; lock.unlock()
            for pid in pids { kill(pid, SIGKILL) }
        }
    }

    /// A child started; it is stopped at once when the run is already stopping.
    func register(_ pid: pid_t) {
        lock.lock()
        children.insert(pid)
        let stopping = received != nil
        lock.unlock()
        if stopping { kill(pid, SIGTERM); killLater() }
    }

    /// A child ended.
    func unregister(_ pid: pid_t) { lock.lock(); children.remove(pid); lock.unlock() }

    static func name(_ s: Int32) -> String { s == SIGINT ? "SIGINT (Ctrl-C)" : s == SIGTERM ? "SIGTERM" : "signal \(s)" }

    /// The message of an entry that a stop cut short or kept from starting.
    static func message(_ s: Int32) -> String { "interrupted: certus check was stopped by \(name(s)) before this entry finished" }

    static func isInterrupted(_ r: CheckEntryResult) -> Bool { r.status == .error && r.message.hasPrefix("interrupted: ") }
}

/// Turns off the default action of signal `s` (so that a Dispatch source alone takes it).
private func ignoreSignal(_ s: Int32) { _ = signal(s, SIG_IGN) }

/// A child (`certus check M --entry K`) ends when its parent does, however the parent ended
/// (SIGKILL included): a thread compares the parent's process id with the one that started it
/// (passed in `CERTUS_CHECK_PARENT_PID`) every 0.2 s. (Linux's PR_SET_PDEATHSIG follows the
/// thread that spawned the child, not the process, and `prctl` is variadic, which Swift does not
/// import; polling works on macOS too.)
enum ParentWatch {
    static let variable = "CERTUS_CHECK_PARENT_PID"

    static func start() {
        guard let expected = ProcessInfo.processInfo.environment[variable].flatMap({ pid_t($0) }) else { return }
        if getppid() != expected { _exit(Exit.internalError) }
        let t = Thread {
            while true {
                if getppid() != expected { _exit(Exit.internalError) }
                usleep(200_000)
            }
        }
        t.start()
    }
}

/// One entry run in a child process (`certus check MANIFEST --entry K`), so that a crash or a
/// hang of the library in one entry is that entry's result. The child is killed when it runs
/// past its time limit by more than `--kill-after` seconds (default `grace(limit)`).
enum ChildRun {
    static func grace(_ limit: Double) -> Double { max(30, limit / 2) }

    static var executable: URL {
        let selfExe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        if FileManager.default.isExecutableFile(atPath: selfExe.path), selfExe.path != "/proc/self/exe" { return selfExe }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }

    static func run(runner: CheckRunner, manifest: String, index: Int, killAfter: Double?) -> CheckEntryResult {
        var blank = runner.blankResult(at: index)
        let start = Date()
        let p = Process()
        p.executableURL = executable
        p.arguments = ["check", manifest, "--entry", String(index)]
        if let s = CheckInterruption.shared.signal {
            blank.message = CheckInterruption.message(s)
            return blank
        }
        var env = ProcessInfo.processInfo.environment
        env[ParentWatch.variable] = String(getpid())
        p.environment = env
        let out = Pipe()
        // The child's stderr goes to a temporary file that is removed as soon as the child has
        // it open (the parent reads it through its own handle), so that no file is left behind
        // however the run ends.
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("certus-check-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        guard let errHandle = try? FileHandle(forWritingTo: errFile), let errReader = try? FileHandle(forReadingFrom: errFile) else {
            blank.message = "internal error: cannot create a temporary file for the child's messages"
            return blank
        }
        defer { try? errReader.close() }
        p.standardOutput = out
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            try? errHandle.close()
            blank.message = "internal error: cannot start \(executable.path) for the entry: \(error.localizedDescription)"
            return blank
        }
        let pid = p.processIdentifier
        CheckInterruption.shared.register(pid)
        try? errHandle.close()
        try? FileManager.default.removeItem(at: errFile)
        let killed = KillFlag()
        let extra = killAfter ?? grace(blank.timeLimit)
        let limit = blank.timeLimit + extra
        DispatchQueue.global().asyncAfter(deadline: .now() + limit) {
            if p.isRunning { killed.set(); p.terminate() }
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        CheckInterruption.shared.unregister(pid)
        let elapsed = Date().timeIntervalSince(start)
        // The child's own words: a Swift runtime's "Fatal error: ..." line (its backtrace follows),
        // an "error: ..." line, else its first lines.
        let errLines = String(decoding: (try? errReader.readToEnd()) ?? Data(), as: UTF8.self)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let telling = errLines.filter { $0.contains("Fatal error") || $0.hasPrefix("error:") || $0.hasPrefix("internal error:") }
        let stderrTail = VisibleText.escaped((telling.isEmpty ? Array(errLines.prefix(2)) : Array(telling.prefix(2))).joined(separator: " | "))
        if killed.isSet {
            blank.status = .timeout
            blank.timeSeconds = elapsed
            blank.message = "killed: still running \(Expectation.format(extra)) s after its time limit of \(Expectation.format(blank.timeLimit)) s"
            return blank
        }
        if p.terminationReason == .exit, p.terminationStatus == 0 {
            let dec = JSONDecoder()
            dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            if let r = try? dec.decode(CheckEntryResult.self, from: data) { return r }
            blank.message = "internal error: the child process's result could not be read" + (stderrTail.isEmpty ? "" : ": \(stderrTail)")
        } else if let s = CheckInterruption.shared.signal {
            blank.message = CheckInterruption.message(s)
        } else if p.terminationReason == .uncaughtSignal, p.terminationStatus == SIGKILL {
            blank.message = "killed from outside by signal 9 (SIGKILL), for example by the out-of-memory killer or a job's "
                + "time or memory limit; not a crash of Certus" + (stderrTail.isEmpty ? "" : ": \(stderrTail)")
        } else if p.terminationReason == .uncaughtSignal {
            blank.message = "crashed (signal \(p.terminationStatus))" + (stderrTail.isEmpty ? "" : ": \(stderrTail)")
                + " (a bug in Certus; please report it with the manifest and its files)"
        } else {
            blank.message = "the child process ended with exit code \(p.terminationStatus)" + (stderrTail.isEmpty ? "" : ": \(stderrTail)")
        }
        blank.status = .error
        blank.timeSeconds = elapsed
        return blank
    }
}

private final class KillFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// The live line of `certus check` on stderr (a terminal only): finished / total and the
/// entries running, rewritten in place and erased at the end.
final class CheckProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var shown = false

    static func forStderr() -> CheckProgressLine? { isatty(2) == 1 ? CheckProgressLine() : nil }

    var handler: @Sendable (CheckProgress) -> Void {
        { [self] p in
            lock.lock(); defer { lock.unlock() }
            var text = "check: \(p.finished)/\(p.total) done"
            if !p.running.isEmpty { text += ", running: " + p.running.joined(separator: ", ") }
            if text.count > 110 { text = String(text.prefix(107)) + "..." }
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + VisibleText.escaped(text)).utf8))
            shown = true
        }
    }

    func clear() {
        lock.lock(); defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); shown = false }
    }
}

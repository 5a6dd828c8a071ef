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
            MANIFEST is YAML or JSON (see the README, "CI gate: certus check"); paths in it are relative to its folder. \
            Entries run on --jobs workers, each in its own child process (a crash or a hang of one entry is that entry's \
            error or timeout; the others go on). A table goes to stdout, a live progress line to stderr when it is a terminal. \
            Exit codes: 0 every entry passed (undecided ones only under a warn policy); 1 some expectation failed \
            (a counterexample to 'holds', a proof against 'violated', a Lipschitz constant or bound past its limit); \
            2 no failure and no error, but some entry undecided (unknown or timeout) under the fail policy; \
            3 some entry could not be run (a bad or missing file) and none failed, or the manifest itself is bad \
            (the file, line and field are named); 64 bad usage; 70 internal error.
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
        let m: Manifest = try reportingErrors { try Certus.manifest(manifest) }
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
            if let name = m.entries[entry].name, env["CERTUS_CHECK_TEST_HANG"] == name { while true { sleep(60) } }
            try printJSON(runner.runEntry(at: entry))
            return
        }

        let line = CheckProgressLine.forStderr()
        var execute: (@Sendable (Int) -> CheckEntryResult)? = nil
        if !inProcess {
            let path = manifest, grace = killAfter
            execute = { index in ChildRun.run(runner: runner, manifest: path, index: index, killAfter: grace) }
        }
        let report = runner.run(execute: execute, progress: line?.handler)
        line?.clear()

        var writeError: String? = nil
        func write(_ data: Data, to path: String, what: String) {
            do { try data.write(to: URL(fileURLWithPath: path)) } catch {
                writeError = "\(path): cannot write the \(what): \(error.localizedDescription)"
            }
        }
        if let junit { write(Data(report.junitXML().utf8), to: junit, what: "JUnit report") }
        if let json {
            do { write(try report.jsonData(), to: json, what: "JSON report") } catch {
                throw Failure.report(error)
            }
        }
        print(report.table(), terminator: "")
        if let writeError { throw Failure.report(CLIError(writeError)) }
        throw ExitCode(report.exitCode)
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
        let out = Pipe()
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("certus-check-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        guard let errHandle = try? FileHandle(forWritingTo: errFile) else {
            blank.message = "internal error: cannot create a temporary file for the child's messages"
            return blank
        }
        p.standardOutput = out
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            blank.message = "internal error: cannot start \(executable.path) for the entry: \(error.localizedDescription)"
            return blank
        }
        try? errHandle.close()
        let killed = KillFlag()
        let extra = killAfter ?? grace(blank.timeLimit)
        let limit = blank.timeLimit + extra
        DispatchQueue.global().asyncAfter(deadline: .now() + limit) {
            if p.isRunning { killed.set(); p.terminate() }
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let elapsed = Date().timeIntervalSince(start)
        // The child's own words: a Swift runtime's "Fatal error: ..." line (its backtrace follows),
        // an "error: ..." line, else its first lines.
        let errLines = String(decoding: (try? Data(contentsOf: errFile)) ?? Data(), as: UTF8.self)
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

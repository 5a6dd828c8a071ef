import Certus
import Foundation

/// One instance of `certus run` in a child process (`certus run LIST --instance K ...`), so that a
/// crash (a trap, a fatal error) or a hang of the library on one instance is that instance's
/// record and the run goes on. The child prints its `BatchRecord` as JSON; it ends when its parent
/// does (`ParentWatch`); it is killed when it runs past its time limit by more than `--kill-after`
/// seconds (default `ChildRun.grace(limit)`, as for `certus check`).
enum RunChild {
    /// The child process of the running instance, to pass a signal on to it.
    final class Running: @unchecked Sendable {
        private let lock = NSLock()
        private var pid: pid_t? = nil
        private var received: Int32? = nil

        func start(_ p: pid_t) {
            lock.lock(); pid = p; let s = received; lock.unlock()
            if s != nil { kill(p, SIGTERM) }
        }

        func end() { lock.lock(); pid = nil; lock.unlock() }

        /// Passes SIGTERM on to the running child (the first signal; later ones: SIGKILL).
        func signal(_ s: Int32) {
            lock.lock()
            let first = received == nil
            if first { received = s }
            let p = pid
            lock.unlock()
            if let p { kill(p, first ? SIGTERM : SIGKILL) }
        }
    }

    /// Runs one instance in a child process and returns its record: the child's own, or one with
    /// `error` saying how the child ended (crashed with a signal, killed from outside, killed after
    /// its time limit, an unreadable answer).
    static func run(arguments: [String], instance: BatchInstance, expected: VerificationStatus?, timeLimit: Double,
                    killAfter: Double?, running: Running) -> BatchRecord {
        let start = Date()
        func record(_ status: VerificationStatus, _ error: String) -> BatchRecord {
            BatchRecord(onnx: instance.onnx, vnnlib: instance.vnnlib, status: status, timeSeconds: Date().timeIntervalSince(start),
                        timeLimit: timeLimit, method: "none", expected: expected,
                        verdict: BatchRecord.verdict(status: status, expected: expected), error: error)
        }
        let p = Process()
        p.executableURL = ChildRun.executable
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env[ParentWatch.variable] = String(getpid())
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            return record(.unknown, "internal error: cannot start \(ChildRun.executable.path) for the instance: \(error.localizedDescription)")
        }
        running.start(p.processIdentifier)
        defer { running.end() }
        let killed = Flag()
        let extra = killAfter ?? ChildRun.grace(timeLimit)
        DispatchQueue.global().asyncAfter(deadline: .now() + timeLimit + extra) {
            if p.isRunning { killed.set(); p.terminate() }
        }
        // Both pipes are drained at once (a child that fills one while the other is read would block).
        let errData = Box()
        let errReader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        errReader.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errText = errData.wait()
        // The child's own words: a Swift runtime's "Fatal error: ..." line, an "error: ..." line, else its first lines.
        let lines = String(decoding: errText, as: UTF8.self).split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let telling = lines.filter { $0.contains("Fatal error") || $0.hasPrefix("error:") || $0.hasPrefix("internal error:") }
        let tail = VisibleText.escaped((telling.isEmpty ? Array(lines.prefix(2)) : Array(telling.prefix(2))).joined(separator: " | "))
        let said = tail.isEmpty ? "" : ": \(tail)"
        if killed.isSet {
            return record(.timeout, "killed: still running \(extra) s after its time limit of \(timeLimit) s")
        }
        if p.terminationReason == .exit, p.terminationStatus == 0 {
            if let r = try? Certus.jsonDecoder().decode(BatchRecord.self, from: data) { return r }
            return record(.unknown, "internal error: the child process's record could not be read\(said)")
        }
        if p.terminationReason == .uncaughtSignal, p.terminationStatus == SIGKILL {
            return record(.unknown, "killed from outside by signal 9 (SIGKILL), for example by the out-of-memory killer or a job's "
                          + "time or memory limit\(said)")
        }
        if p.terminationReason == .uncaughtSignal {
            return record(.unknown, "crashed (signal \(p.terminationStatus))\(said) (a bug in Certus; please report it with the instance's files)")
        }
        // Bad input in the child (exit 3) and other errors: its message.
        return record(.unknown, tail.isEmpty ? "the child process ended with exit code \(p.terminationStatus)" : tail)
    }

    private final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.lock(); value = true; lock.unlock() }
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    }

    /// Data handed from the stderr reader thread.
    private final class Box: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var data = Data()
        func set(_ d: Data) { data = d; done.signal() }
        func wait() -> Data { done.wait(); return data }
    }
}

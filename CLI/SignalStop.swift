import Certus
import Foundation

/// Stopping `certus verify` and `certus run` with SIGINT (Ctrl-C) or SIGTERM (a CI job's cancel,
/// `kill`, `timeout`): the signals are taken by Dispatch signal sources (their default action
/// turned off first, never a C handler), and the first one cancels `token`, which the library
/// treats as its time limit passing (`VerifyOptions.stop`), so the search ends cleanly at its next
/// check and the command writes the partial result and exits with 128 + signal (130 for SIGINT,
/// 143 for SIGTERM). If the library has not returned `fallbackAfter` seconds after the signal, or
/// a second signal arrives, `fallback` writes a result without it and the process exits.
/// `onSignal` sees every signal (the first one included) before that.
///
/// The same object keeps the time limit (`armDeadline`: a watchdog thread that writes `timeout`
/// and exits when the library has not answered shortly after the limit).
///
/// Exactly one of the main path (`finish`), the signal fallback and the watchdog writes the
/// output: whichever claims it first; the others never write.
final class SignalStop: @unchecked Sendable {
    /// Seconds between the signal and the fallback output (default).
    static let fallbackAfter: Double = 1.5

    /// Cancelled by the first SIGINT or SIGTERM.
    let token = CancellationToken()
    private let lock = NSLock()
    private var received: Int32? = nil
    private var claimed = false
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "certus.signals")
    /// Writes a result without the library's answer (called at most once, on the signal queue).
    private var fallback: ((Int32) -> Void)?
    /// Called on the signal queue with every signal received (e.g. to pass it on to a child process).
    private let onSignal: ((Int32) -> Void)?
    private let fallbackDelay: Double

    /// The first signal received, if any.
    var signal: Int32? { lock.lock(); defer { lock.unlock() }; return received }

    /// Takes SIGINT and SIGTERM from now on; `fallback` writes the output when the library does not
    /// return in time (it must not throw; the process exits with 128 + signal after it).
    init(fallbackAfter: Double = SignalStop.fallbackAfter, onSignal: ((Int32) -> Void)? = nil, fallback: @escaping (Int32) -> Void) {
        self.fallback = fallback
        self.onSignal = onSignal
        self.fallbackDelay = fallbackAfter
        for s in [SIGINT, SIGTERM] {
            _ = Foundation.signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
            source.setEventHandler { [unowned self] in self.receive(s) }
            source.resume()
            sources.append(source)
        }
    }

    private func receive(_ s: Int32) {
        lock.lock()
        let first = received == nil
        if first { received = s }
        lock.unlock()
        token.cancel()
        onSignal?(s)
        if first {
            queue.asyncAfter(deadline: .now() + fallbackDelay) { [self] in runFallback() }
        } else {
            runFallback()
        }
    }

    private func runFallback() {
        guard claim(), let s = signal else { return }
        fallback?(s)
        fflush(stdout)
        Foundation.exit(128 + s)
    }

    /// Seconds after the time limit at which the watchdog writes its `timeout` (default): the
    /// library's own stop (cooperative checks) usually answers before it, with its log.
    static let deadlineGrace: Double = 0.5

    /// Arms the time-limit watchdog, so that the answer comes within about `grace` seconds of
    /// the limit whatever the library is doing (reading or decoding a model, a GLPK solve, a bound
    /// pass between two checks). `limit` seconds (plus `grace`) after the process started
    /// (`ProcessClock`: model loading included, as VNN-COMP counts the time), unless the main path
    /// has claimed the output by then, `write` is called with the signal received (if any) and
    /// must write a result saying `timeout` (or `unknown`), never `sat` or `unsat`; then the
    /// process ends at once (`_exit`, no library clean-up runs) with 128 + signal after a signal,
    /// else `exitCode`. The watchdog is a thread of its own (not a Dispatch queue, whose workers
    /// may all be busy), sleeping in slices of at most 50 ms. Exactly one of the main path, the
    /// signal fallback and the watchdog writes (`claim`).
    func armDeadline(limit: Double, grace: Double = SignalStop.deadlineGrace, exitCode: Int32,
                     write: @escaping @Sendable (Int32?) -> Void) {
        let fireAt = ProcessClock.start + max(0, limit) + max(0, grace)
        let thread = Thread { [self] in
            while true {
                let left = fireAt - ProcessClock.now
                if left <= 0 { break }
                usleep(UInt32(min(left, 0.05) * 1e6) + 1)
            }
            guard claim() else { return }
            let s = signal
            write(s)
            fflush(stdout)
            fflush(stderr)
            _exit(s.map { 128 + $0 } ?? exitCode)
        }
        thread.name = "certus.deadline"
        thread.start()
    }

    /// Claims the output for the caller; false when the fallback or the watchdog already has it
    /// (then the process is about to exit). Atomic (under `lock`): of the main path, the signal
    /// fallback and the deadline watchdog, exactly the first caller gets true.
    private func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }

    /// The main path: runs `write` (the output) unless the fallback or the watchdog has claimed
    /// the output already, in which case it waits for the exit. Returns the signal received, if any (then exit 128 + signal).
    func finish(_ write: () throws -> Void) rethrows -> Int32? {
        guard claim() else { while true { sleep(60) } }
        try write()
        return signal
    }

    /// The message on stderr after a stop.
    static func message(_ s: Int32, command: String) -> String {
        "certus \(command): stopped by " + (s == SIGINT ? "SIGINT (Ctrl-C)" : s == SIGTERM ? "SIGTERM" : "signal \(s)")
    }
}

extension SignalStop {
    /// The time limit of a command without a partial result of its own (`certus bounds`,
    /// `certus lipschitz`): `limit` seconds after the process started plus the grace, and 1.5 s
    /// after SIGINT/SIGTERM, the output is `timeout: <why>` (with `json`, `{"details": why,
    /// "status": "timeout"}`) and the exit code 2 (128 + signal after a signal). The command writes
    /// its own output through `finish`.
    static func plainTimeLimit(command: String, limit: Double, json: Bool) -> SignalStop {
        @Sendable func write(_ why: String) {
            if json {
                try? printJSON(["status": "timeout", "details": why])
            } else {
                print("timeout: " + why)
            }
        }
        let stop = SignalStop { s in write(SignalStop.message(s, command: command)) }
        stop.armDeadline(limit: limit, exitCode: VerificationStatus.timeout.exitCode) { s in
            write(s.map { SignalStop.message($0, command: command) }
                  ?? String(format: "certus %@: time limit of %g s reached (the watchdog: no answer %.2f s after it)",
                            command, limit, ProcessClock.elapsed - limit))
        }
        return stop
    }
}

/// Wall time since this process started (monotonic clock, seconds), so that a time limit counts
/// the process's start and the model's loading, as VNN-COMP's does. On Linux the start is the
/// kernel's record of the process (`/proc/self/stat`, field 22, against `/proc/uptime`; 10 ms
/// ticks); elsewhere, or if those cannot be read, the first use of `start` (call `markStart()`
/// first thing in `main`).
enum ProcessClock {
    /// Seconds on the monotonic clock (`DispatchTime`'s uptime).
    static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The process's start on the `now` clock.
    static let start: Double = {
        let t = now
        return t - (sinceStartFromProc() ?? 0)
    }()

    /// Fixes `start` (reads it once); call first thing in `main`.
    static func markStart() { _ = start }

    /// Seconds since the process started.
    static var elapsed: Double { now - start }

    /// Seconds since the process started, from /proc (nil when unavailable or implausible).
    private static func sinceStartFromProc() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces) start with field 3 (state).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard fields.count > 19, let startTicks = Double(fields[19]), ticks > 0,
              let up = uptime.split(separator: " ").first.flatMap({ Double($0) }) else { return nil }
        let since = up - startTicks / ticks
        return since >= 0 && since < 60 ? since : nil
    }
}

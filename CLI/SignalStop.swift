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
/// Exactly one of the main path (`finish`) and the fallback writes the output: whichever claims
/// it first; the other never returns.
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

    /// Claims the output for the caller; false when the fallback already has it (then the
    /// process is about to exit).
    private func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }

    /// The main path: runs `write` (the output) unless the fallback has written already, in which
    /// case it waits for the exit. Returns the signal received, if any (then exit 128 + signal).
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

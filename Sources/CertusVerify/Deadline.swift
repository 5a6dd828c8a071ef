import Foundation
import Synchronization
import CertusBounds

/// A request to stop, shared between the caller and running work: `cancel()` makes every
/// `Deadline` made with it count as passed, so the pipeline stops at its next check (between
/// stages, every attack restart, every branch-and-bound batch). Thread-safe.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    /// Tokens whose cancellation also cancels this one.
    private let linked: [CancellationToken]
    /// A token not cancelled yet.
    public init() { linked = [] }
    /// A token that counts as cancelled when it, or any of `tokens`, is cancelled.
    package init(linkedTo tokens: [CancellationToken]) { linked = tokens }
    /// Asks the work to stop (idempotent).
    public func cancel() { flag.store(true, ordering: .relaxed) }
    /// Whether `cancel()` was called (on this token or a token it is linked to).
    public var isCancelled: Bool { flag.load(ordering: .relaxed) || linked.contains { $0.isCancelled } }

    /// The token cancelled when either of `a` and `b` is (one of them when the other is nil).
    package static func either(_ a: CancellationToken?, _ b: CancellationToken?) -> CancellationToken? {
        switch (a, b) {
        case (nil, nil): return nil
        case (let t?, nil), (nil, let t?): return t
        case (let x?, let y?): return CancellationToken(linkedTo: [x, y])
        }
    }
}

/// A point in time after which work must stop, on the monotonic clock, or earlier when its
/// `CancellationToken` is cancelled.
package struct Deadline: Sendable {
    /// The instant at which the deadline passes.
    package let instant: ContinuousClock.Instant
    /// A token that, once cancelled, makes the deadline count as passed.
    package var cancellation: CancellationToken? = nil
    /// The verification's memory limit (`VerifierSettings.memoryLimit`), if any: searches that
    /// grow ask `memoryExceeded()` per batch. It does not make the deadline pass.
    package var memory: MemoryBudget? = nil

    /// Whether the memory limit (if any) is exceeded; see `MemoryBudget.exceeded()`.
    package func memoryExceeded() -> Bool { memory?.exceeded() ?? false }

    /// The longest limit honoured (ten years); longer or infinite limits are clamped to it.
    package static let maximumSeconds: Double = 10 * 365.25 * 86_400

    /// A deadline `seconds` from now. Non-positive or NaN limits give a deadline that has
    /// already passed; infinite or huge limits are clamped to `maximumSeconds`.
    package init(secondsFromNow seconds: Double) {
        let s = seconds.isNaN ? 0 : min(max(seconds, 0), Deadline.maximumSeconds)
        instant = ContinuousClock.now.advanced(by: .nanoseconds(Int64((s * 1e9).rounded(.down))))
    }

    /// A deadline at a given instant.
    package init(instant: ContinuousClock.Instant) { self.instant = instant }

    /// A deadline that, in practice, never passes.
    package static var distant: Deadline { Deadline(secondsFromNow: maximumSeconds) }

    /// A deadline `seconds` from now that also passes when `cancellation` is cancelled.
    package init(secondsFromNow seconds: Double, cancellation: CancellationToken?) {
        self.init(secondsFromNow: seconds)
        self.cancellation = cancellation
    }

    /// Whether the deadline has passed (or its token was cancelled).
    package var hasPassed: Bool { ContinuousClock.now >= instant || cancellation?.isCancelled == true }

    /// Seconds left (0 once passed or cancelled).
    package var remainingSeconds: Double {
        if cancellation?.isCancelled == true { return 0 }
        let d = ContinuousClock.now.duration(to: instant)
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        return max(0, s)
    }

    /// The earlier of this deadline and one `seconds` from now.
    package func capped(secondsFromNow seconds: Double) -> Deadline {
        var other = Deadline(secondsFromNow: seconds)
        other.cancellation = cancellation
        other.memory = memory
        return other.instant < instant ? other : self
    }
}

extension Deadline {
    /// A check that is true once the deadline has passed or its token was cancelled, for work
    /// that polls (bound passes through `BoundSettings.stopRequested`, GLPK's branch and cut
    /// through `LPOptions.shouldStop`), so that a cancellation (e.g. SIGTERM) ends it at its next
    /// check rather than at the time limit fixed when it started.
    package var stopCheck: @Sendable () -> Bool {
        let d = self
        return { d.hasPassed }
    }
}

extension BoundSettings {
    /// Makes a bound computation stop with `deadline`: `stopBy` at its instant (as a `Date`) and
    /// `stopRequested` polling its cancellation.
    package mutating func stop(with deadline: Deadline) {
        stopBy = Date(timeIntervalSinceNow: deadline.remainingSeconds)
        stopRequested = deadline.stopCheck
    }
}

/// Seconds elapsed since `start` on the monotonic clock.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = start.duration(to: ContinuousClock.now)
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

import Synchronization

/// A request to stop, shared between the caller and running work: `cancel()` makes every
/// `Deadline` made with it count as passed, so the pipeline stops at its next check (between
/// stages, every attack restart, every branch-and-bound batch). Thread-safe.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    /// A token not cancelled yet.
    public init() {}
    /// Asks the work to stop (idempotent).
    public func cancel() { flag.store(true, ordering: .relaxed) }
    /// Whether `cancel()` was called.
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// A point in time after which work must stop, on the monotonic clock, or earlier when its
/// `CancellationToken` is cancelled.
package struct Deadline: Sendable {
    /// The instant at which the deadline passes.
    package let instant: ContinuousClock.Instant
    /// A token that, once cancelled, makes the deadline count as passed.
    package var cancellation: CancellationToken? = nil

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
        return other.instant < instant ? other : self
    }
}

/// Seconds elapsed since `start` on the monotonic clock.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = start.duration(to: ContinuousClock.now)
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// A point in time after which work must stop, on the monotonic clock.
public struct Deadline: Sendable {
    /// The instant at which the deadline passes.
    public let instant: ContinuousClock.Instant

    /// The longest limit honoured (ten years); longer or infinite limits are clamped to it.
    public static let maximumSeconds: Double = 10 * 365.25 * 86_400

    /// A deadline `seconds` from now. Non-positive or NaN limits give a deadline that has
    /// already passed; infinite or huge limits are clamped to `maximumSeconds`.
    public init(secondsFromNow seconds: Double) {
        let s = seconds.isNaN ? 0 : min(max(seconds, 0), Deadline.maximumSeconds)
        instant = ContinuousClock.now.advanced(by: .nanoseconds(Int64((s * 1e9).rounded(.down))))
    }

    /// A deadline at a given instant.
    public init(instant: ContinuousClock.Instant) { self.instant = instant }

    /// A deadline that, in practice, never passes.
    public static var distant: Deadline { Deadline(secondsFromNow: maximumSeconds) }

    /// Whether the deadline has passed.
    public var hasPassed: Bool { ContinuousClock.now >= instant }

    /// Seconds left (0 once passed).
    public var remainingSeconds: Double {
        let d = ContinuousClock.now.duration(to: instant)
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        return max(0, s)
    }

    /// The earlier of this deadline and one `seconds` from now.
    public func capped(secondsFromNow seconds: Double) -> Deadline {
        let other = Deadline(secondsFromNow: seconds)
        return other.instant < instant ? other : self
    }
}

/// Seconds elapsed since `start` on the monotonic clock.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = start.duration(to: ContinuousClock.now)
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fast, statistically sound 64-bit generator.
/// Used so that the attack is deterministic for a given seed, with no global state.
package struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    /// The internal state (advanced by a fixed odd constant on every draw).
    package private(set) var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    package init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    package mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform Double in [lower, upper] (exactly `lower` when the interval is a point).
    package mutating func uniform(_ lower: Double, _ upper: Double) -> Double {
        let v = lower + (upper - lower) * nextUnit()
        return min(max(v, lower), upper)
    }

    /// A fair coin.
    package mutating func nextBool() -> Bool { next() >> 63 == 1 }
}

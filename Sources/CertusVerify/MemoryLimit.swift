import Foundation
import Synchronization

/// A resident-memory limit for one verification (`VerifierSettings.memoryLimit`), carried by its
/// `Deadline` so that every search sees it. The searches that grow with their work (branch and
/// bound's and input splitting's domain queues, the MILP) ask `exceeded()` once per batch; the
/// first time it is true the budget stays tripped, the search stops as at a domain limit, and the
/// verifier answers `unknown` (never `timeout`, and no final attack). Thread-safe.
///
/// The measure is the process's resident set (Linux `/proc/self/statm`), read at most every
/// 20 ms. It bounds what the search keeps, not
/// a single allocation: one pass that needs more memory than is left can still pass the limit
/// before the next check.
package final class MemoryBudget: Sendable {
    /// The limit in bytes.
    package let limitBytes: Double
    private let tripped = Atomic<Bool>(false)
    private let lastCheckNanos = Atomic<UInt64>(0)
    private let lastResident = Atomic<UInt64>(0)

    /// A budget of `limitBytes` bytes of resident memory.
    package init(limitBytes: Double) { self.limitBytes = limitBytes }

    /// Whether the limit was found exceeded (by `exceeded()`).
    package var isTripped: Bool { tripped.load(ordering: .relaxed) }

    /// The resident memory of the process at the last check, in bytes.
    package var lastResidentBytes: Double { Double(lastResident.load(ordering: .relaxed)) }

    /// Checks the resident memory (at most every 20 ms; in between, the last answer) and trips the
    /// budget when it is above the limit.
    package func exceeded() -> Bool {
        if isTripped { return true }
        let now = DispatchTime.now().uptimeNanoseconds
        let last = lastCheckNanos.load(ordering: .relaxed)
        if last != 0 && now &- last < 20_000_000 { return false }
        lastCheckNanos.store(now, ordering: .relaxed)
        guard let r = ProcessMemory.residentBytes() else { return false }
        lastResident.store(UInt64(r), ordering: .relaxed)
        if r > limitBytes { tripped.store(true, ordering: .relaxed); return true }
        return false
    }

    /// "memory limit X MiB reached (resident Y MiB)", for logs.
    package var message: String {
        String(format: "memory limit %.0f MiB reached (resident %.0f MiB)", limitBytes / 1_048_576, lastResidentBytes / 1_048_576)
    }
}

/// The process's memory use.
package enum ProcessMemory {
    /// Resident set size in bytes (Linux: `/proc/self/statm`, second field, in pages); nil where
    /// it cannot be read (then a memory limit is not enforced).
    package static func residentBytes() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Double(fields[1]) else { return nil }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}

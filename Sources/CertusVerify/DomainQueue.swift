import HeapModule

/// The branch-and-bound work queue: domains ordered by priority, lowest first (the worst lower
/// bound is bounded next). A thin wrapper over swift-collections' `Heap`.
struct DomainQueue<Domain> {
    private struct Entry: Comparable {
        var priority: Double
        var order: Int          // insertion order breaks ties deterministically
        var domain: Domain
        static func < (a: Entry, b: Entry) -> Bool { (a.priority, a.order) < (b.priority, b.order) }
        static func == (a: Entry, b: Entry) -> Bool { a.priority == b.priority && a.order == b.order }
    }
    private var heap = Heap<Entry>()
    private var pushed = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    /// The lowest priority in the queue (+infinity when empty).
    var minPriority: Double { heap.min?.priority ?? .infinity }
    /// Every queued domain, in no particular order.
    var domains: [Domain] { heap.unordered.map(\.domain) }

    mutating func push(_ d: Domain, priority: Double) {
        heap.insert(Entry(priority: priority, order: pushed, domain: d))
        pushed += 1
    }

    mutating func pop() -> Domain? { heap.popMin()?.domain }
}

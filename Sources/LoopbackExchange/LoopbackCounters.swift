import ArbKit
import Synchronization

/// What the loopback exchange did, counted: printed when it stops (and in `arb run --demo loopback`'s summary).
public final class LoopbackCounters: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case ordersPlaced = "orders placed"
        case droppedAnswers = "answers dropped"
        case serverErrors = "5xx answers"
        case rateLimited = "429 answers"
        case restarting = "425 answers"
        case refusedSignatures = "bad signatures refused"
        case bookMessages = "book messages"
        case sequenceGaps = "sequence gaps sent"
        case silences = "market channel silences"
        case pushedFills = "fills pushed"
        case pushedOrders = "order changes pushed"
        case failedTrades = "trades failed"
    }

    private let values = Mutex([Kind: Int]())
    /// When (`CLOCK_MONOTONIC` ns) the first book message's frame since the last
    /// `takeBookFrameFlushed` went to a subscriber's socket: just before the write system call
    /// that puts it in the trader's socket (arb-bench's start).
    private let bookFrameFlushed = Mutex<UInt64?>(nil)

    public init() {}

    /// The instant the first book frame since the last call was flushed, and forgets it.
    public func takeBookFrameFlushed() -> UInt64? {
        bookFrameFlushed.withLock { instant in
            defer { instant = nil }
            return instant
        }
    }

    func noteBookFrameFlushed() {
        let now = SystemClock().monotonicNanoseconds()
        bookFrameFlushed.withLock { if $0 == nil { $0 = now } }
    }

    func add(_ kind: Kind, _ amount: Int = 1) { values.withLock { $0[kind, default: 0] += amount } }

    public subscript(_ kind: Kind) -> Int { values.withLock { $0[kind] ?? 0 } }

    /// `orders placed 12, 5xx answers 1, …` (kinds that happened, in a fixed order).
    public var summary: String {
        let snapshot = values.withLock { $0 }
        let items = Kind.allCases.compactMap { kind in snapshot[kind].map { "\(kind.rawValue) \($0)" } }
        return items.isEmpty ? "nothing yet" : items.joined(separator: ", ")
    }
}

import Foundation
import OrderStateMachine
import Synchronization

/// The faults the loopback exchange injects, from `--faults` (or `arb run --demo loopback
/// --faults`): a comma-separated list of `name=value`. Percentages are drawn per request from the
/// exchange's seed.
///
/// - `drop=P`: P% of order placements are placed, then the connection closes with no answer.
/// - `delay=MS`: every answer waits a drawn 0…MS ms first.
/// - `5xx=P`: P% of requests get HTTP 500 and do nothing.
/// - `429=P`: P% of Kalshi requests get HTTP 429 and do nothing.
/// - `425=P`: P% of Polymarket order posts get HTTP 425 (the matching engine restarting).
/// - `gap=P`: P% of Kalshi book deltas skip a sequence number.
/// - `silent=MS`: 2 s after the books start moving and every 5 s after a silence, the Polymarket
///   market channel sends nothing for MS ms (pings are still answered).
/// - `failed=P`: P% of Polymarket trades go FAILED instead of CONFIRMED (drawn per trade id);
///   the fill is then taken back in `loopback-polymarket.db` too.
public struct LoopbackFaults: Sendable, Hashable, CustomStringConvertible {
    public var dropPercent = 0
    public var delayMilliseconds: Int64 = 0
    public var serverErrorPercent = 0
    public var rateLimitPercent = 0
    public var restartingPercent = 0
    public var gapPercent = 0
    public var silentMilliseconds: Int64 = 0
    public var failedTradePercent = 0

    public init() {}

    /// A fault set a wire soak uses: every kind, each rare enough that trading goes on.
    public static let soak: LoopbackFaults = {
        var faults = LoopbackFaults()
        faults.dropPercent = 3
        faults.delayMilliseconds = 30
        faults.serverErrorPercent = 2
        faults.rateLimitPercent = 2
        faults.restartingPercent = 2
        faults.gapPercent = 1
        faults.silentMilliseconds = 1_500
        faults.failedTradePercent = 3
        return faults
    }()

    static let names = "drop, delay, 5xx, 429, 425, gap, silent, failed"

    /// - Throws: a one-line error naming the bad item and what is allowed.
    public init(parsing spec: String) throws(LoopbackFaultsError) {
        let trimmed = spec.trimmingCharacters(in: .whitespaces)
        if trimmed == "soak" {
            self = .soak
            return
        }
        guard !trimmed.isEmpty, trimmed != "none" else { return }
        for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard parts.count == 2, let value = Int64(parts[1]), value >= 0 else {
                throw LoopbackFaultsError(description: "--faults item \"\(item)\" is not name=number (names: \(Self.names); or \"soak\", \"none\")")
            }
            func percent() throws(LoopbackFaultsError) -> Int {
                guard value <= 100 else { throw LoopbackFaultsError(description: "--faults \(parts[0])=\(value): a percentage is 0 to 100") }
                return Int(value)
            }
            func milliseconds() throws(LoopbackFaultsError) -> Int64 {
                guard value <= 60_000 else { throw LoopbackFaultsError(description: "--faults \(parts[0])=\(value): at most 60000 ms") }
                return value
            }
            switch parts[0] {
            case "drop": dropPercent = try percent()
            case "delay": delayMilliseconds = try milliseconds()
            case "5xx": serverErrorPercent = try percent()
            case "429": rateLimitPercent = try percent()
            case "425": restartingPercent = try percent()
            case "gap": gapPercent = try percent()
            case "silent": silentMilliseconds = try milliseconds()
            case "failed": failedTradePercent = try percent()
            default:
                throw LoopbackFaultsError(description: "--faults names \"\(parts[0])\", which is not a fault (names: \(Self.names))")
            }
        }
    }

    public var description: String {
        let items: [(String, Int64)] = [
            ("drop", Int64(dropPercent)), ("delay", delayMilliseconds), ("5xx", Int64(serverErrorPercent)),
            ("429", Int64(rateLimitPercent)), ("425", Int64(restartingPercent)), ("gap", Int64(gapPercent)),
            ("silent", silentMilliseconds), ("failed", Int64(failedTradePercent)),
        ]
        let set = items.filter { $0.1 > 0 }.map { "\($0.0)=\($0.1)" }
        return set.isEmpty ? "none" : set.joined(separator: ",")
    }
}

public struct LoopbackFaultsError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// The exchange's draws, from its seed: thread-safe, one sequence per exchange.
final class LoopbackDice: Sendable {
    private let generator: Mutex<SeededGenerator>

    init(seed: UInt64, name: String) {
        generator = Mutex(SeededGenerator.derived(seed: seed, name: name))
    }

    /// True with probability `percent`%.
    func roll(_ percent: Int) -> Bool {
        guard percent > 0 else { return false }
        return generator.withLock { Int($0.next() % 100) } < percent
    }

    /// A draw in 0…max.
    func upTo(_ max: Int64) -> Int64 {
        guard max > 0 else { return 0 }
        return generator.withLock { Int64($0.next() % UInt64(max + 1)) }
    }
}

import ArbEngine
import Foundation
import KalshiLoopback
import KalshiVenue
import PolymarketLoopback
import PolymarketVenue
import Testing

/// The kept connection to each venue stays open through quiet spells: after
/// `keepWarmMilliseconds` with no request, one light read (Kalshi: a signed balance read;
/// Polymarket: `GET /version`); none while other requests flow (`ConnectionKeepWarm`).
@Suite("Keep-warm reads")
struct KeepWarmTests {
    static let period: Int64 = 250

    /// The signed times of the exchange's requests whose path starts with `path`.
    static func times(_ harness: KalshiHarness, _ path: String) -> [Int64] {
        harness.exchange.requests.filter { $0.uri.contains(path) }.compactMap(\.timestampMilliseconds)
    }

    @Test("quiet: a signed balance read about every period after the start checks; busy: each one only after a whole quiet period")
    func keepWarm() async throws {
        let harness = try await KalshiHarness(keepWarmMilliseconds: Self.period)
        defer { Task { await harness.stop() } }
        #expect(await harness.venue.startChecks().isEmpty)

        // Quiet for four periods: the start checks' read, then about one read per period.
        try await Task.sleep(for: .milliseconds(4 * Self.period + Self.period / 2))
        let quiet = Self.times(harness, "/portfolio/balance")
        #expect(quiet.count >= 3, "\(quiet.count) balance reads in four quiet periods (the start checks' one included)")
        #expect(harness.allSigned)

        // Busy for four periods: another read every tenth of a period. A keep-warm read may only
        // follow a whole period without any request (this shared machine can stall a test's
        // loop, so the rule is checked on the exchange's record, not by counting).
        let busyFrom = harness.exchange.requests.count
        let until = ContinuousClock.now + .milliseconds(4 * Self.period)
        var own = 0
        while ContinuousClock.now < until {
            _ = try await harness.venue.positions()
            own += 1
            try await Task.sleep(for: .milliseconds(Self.period / 10))
        }
        let busy = Array(harness.exchange.requests[busyFrom...])
        #expect(busy.filter { $0.uri.contains("/portfolio/positions") }.count == own)
        var previous: Int64?
        for request in busy {
            let at = try #require(request.timestampMilliseconds)
            if request.uri.contains("/portfolio/balance") {
                if let previous {
                    #expect(at - previous >= Self.period - 5, "a keep-warm read \(at - previous) ms after the last request")
                }
            }
            previous = at
        }
    }

    @Test("keepWarmMilliseconds 0: after the start checks nothing more is sent")
    func off() async throws {
        let harness = try await KalshiHarness(keepWarmMilliseconds: 0)
        defer { Task { await harness.stop() } }
        #expect(await harness.venue.startChecks().isEmpty)
        try await Task.sleep(for: .milliseconds(600))
        #expect(Self.times(harness, "/portfolio/balance").count == 1)
        #expect(harness.exchange.requests.count == 1)
    }

    @Test("Polymarket: the start checks start it; quiet, a GET /version about every period (the first at once); busy, each only after a whole quiet period")
    func polymarket() async throws {
        let harness = try await PolymarketHarness(keepWarmMilliseconds: Self.period)
        defer { Task { await harness.stop() } }
        #expect(await harness.venue.startChecks().isEmpty)
        try await Task.sleep(for: .milliseconds(4 * Self.period + Self.period / 2))
        let quiet = harness.exchange.requests.filter { $0.uri == "/version" }
        #expect(quiet.count >= 3, "\(quiet.count) keep-warm reads in four quiet periods")
        #expect(harness.allSigned)

        let busyFrom = harness.exchange.requests.count
        let until = ContinuousClock.now + .milliseconds(4 * Self.period)
        while ContinuousClock.now < until {
            _ = try await harness.venue.balance()
            try await Task.sleep(for: .milliseconds(Self.period / 10))
        }
        var previous: UInt64?
        for request in harness.exchange.requests[busyFrom...] {
            if request.uri == "/version", let previous {
                // Received, not sent, times: a little slack for the hop.
                let gap = Int64((request.receivedAtNanoseconds - previous) / 1_000_000)
                #expect(gap >= Self.period - 25, "a keep-warm read \(gap) ms after the last request")
            }
            previous = request.receivedAtNanoseconds
        }
    }
}

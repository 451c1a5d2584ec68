import ArbEngine
import KalshiVenue
import OrderStateMachine
import Synchronization
import Testing

/// A wall clock the test moves by hand (the monotonic reading and sleeps are the machine's).
final class SteppedClock: TradingClock {
    private let now: Mutex<Int64>

    init(startMilliseconds: Int64) { now = Mutex(startMilliseconds) }

    func advance(milliseconds: Int64) { now.withLock { $0 += milliseconds } }

    func nowMilliseconds() -> Int64 { now.withLock { $0 } }
    func monotonicNanoseconds() -> UInt64 { SystemClock().monotonicNanoseconds() }
    func sleep(milliseconds: Int64) async throws { try await SystemClock().sleep(milliseconds: milliseconds) }
}

/// `prepare` signs a create's headers beside the intent commit (Kalshi's signature covers
/// timestamp, method and path, not the body); `submit` sends them when fresh, else signs afresh.
@Suite("Kalshi create headers signed at prepare", .serialized)
struct KalshiPresignTests {
    /// Now, so the exchange's own times (a listing's `min_ts`) agree with the adapter's.
    static let start = SystemClock().nowMilliseconds()

    @Test("the headers signed at prepare, stamped then, are the ones the create carries, and the exchange verifies them")
    func presignedHeadersSent() async throws {
        let clock = SteppedClock(startMilliseconds: Self.start)
        let harness = try await KalshiHarness(clock: clock)
        defer { Task { await harness.stop() } }
        let prepared = harness.venue.prepare(KalshiHarness.request("c-pre").request)
        #expect(harness.exchange.requests.isEmpty, "prepare sent something")
        // The intent commit takes its time; the headers are still well within their age limit.
        clock.advance(milliseconds: 400)
        _ = try await harness.venue.submit(prepared)
        let create = try #require(harness.exchange.requests.first { $0.method == "POST" })
        #expect(create.signatureValid)
        #expect(create.timestampMilliseconds == Self.start, "the create was signed at submit, not at prepare")
        #expect(harness.exchange.orders.map(\.clientOrderID) == ["c-pre"])
    }

    @Test("headers older than the limit when the create goes out are replaced by headers signed then, which verify")
    func staleHeadersReplaced() async throws {
        let clock = SteppedClock(startMilliseconds: Self.start)
        let harness = try await KalshiHarness(clock: clock)
        defer { Task { await harness.stop() } }
        let prepared = harness.venue.prepare(KalshiHarness.request("c-stale").request)
        clock.advance(milliseconds: KalshiVenue.Options(name: "k", environment: "demo", baseURL: "http://127.0.0.1",
                                                        selfTradePrevention: "taker_at_cross", feeModel: .kalshiTaker)
            .presignedMaxAgeMilliseconds + 1)
        _ = try await harness.venue.submit(prepared)
        let create = try #require(harness.exchange.requests.first { $0.method == "POST" })
        #expect(create.signatureValid)
        #expect(create.timestampMilliseconds == clock.nowMilliseconds(), "a stale signature went out")
    }

    @Test("a spare header signed ahead of any order is what a prepare takes while fresh: the create carries its older stamp; a spare past half the limit is not used")
    func spareHeaders() async throws {
        let clock = SteppedClock(startMilliseconds: Self.start)
        let harness = try await KalshiHarness(clock: clock)
        defer { Task { await harness.stop() } }
        let limit = KalshiVenue.Options(name: "k", environment: "demo", baseURL: "http://127.0.0.1",
                                        selfTradePrevention: "taker_at_cross", feeModel: .kalshiTaker).presignedMaxAgeMilliseconds
        harness.venue.startSpareRefresher()
        for _ in 0..<500 where harness.venue.spareStampMilliseconds == nil { try await Task.sleep(for: .milliseconds(2)) }
        #expect(harness.venue.spareStampMilliseconds == Self.start)
        #expect(harness.exchange.requests.isEmpty, "the refresher sent something")
        // The spare is stamped now; the order comes 100 ms later and carries that older stamp.
        clock.advance(milliseconds: 100)
        _ = try await harness.venue.submit(harness.venue.prepare(KalshiHarness.request("c-spare").request))
        // Past half the limit, a spare is not taken: the prepare signs with its own time.
        clock.advance(milliseconds: limit / 2 + 1)
        let late = clock.nowMilliseconds()
        _ = try await harness.venue.submit(harness.venue.prepare(KalshiHarness.request("c-late").request))
        let stamps = harness.exchange.requests.filter { $0.method == "POST" }.map(\.timestampMilliseconds)
        #expect(stamps == [Self.start, late], "\(stamps.map { ($0 ?? 0) - Self.start })")
        #expect(harness.allSigned)
    }

    @Test("a create never prepared (a resend by recovery) signs at submit, and each presigned header is used once")
    func unpreparedAndUsedOnce() async throws {
        let clock = SteppedClock(startMilliseconds: Self.start)
        let harness = try await KalshiHarness(clock: clock)
        defer { Task { await harness.stop() } }
        let prepared = harness.venue.prepare(KalshiHarness.request("c-once").request)
        clock.advance(milliseconds: 10)
        _ = try await harness.venue.submit(prepared)
        clock.advance(milliseconds: 10)
        // The same order again (the exchange answers 409 and the order is read back): fresh headers.
        _ = try await harness.venue.submit(prepared)
        _ = try await harness.venue.submit(KalshiHarness.request("c-unprepared"))
        let stamps = harness.exchange.requests.filter { $0.method == "POST" }.map(\.timestampMilliseconds)
        #expect(stamps == [Self.start, Self.start + 20, Self.start + 20])
        #expect(harness.allSigned)
    }
}

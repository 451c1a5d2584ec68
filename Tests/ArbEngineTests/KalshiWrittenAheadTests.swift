@testable import ArbKit
import ArbEngine
@testable import KalshiVenue
import NIOCore
import OrderStateMachine
import Testing

/// Beside the intent commit, a Kalshi create is written out whole — the headers signed for it
/// and the body `submit` would send — so `submit` only hands the bytes to a kept connection.
@Suite("Kalshi create requests written ahead", .serialized)
struct KalshiWrittenAheadTests {
    @Test("prepare writes the create request with the headers signed for it and the body submit would send; taken once")
    func writtenAhead() async throws {
        let clock = SteppedClock(startMilliseconds: KalshiPresignTests.start)
        let harness = try await KalshiHarness(clock: clock)
        defer { Task { await harness.stop() } }
        let order = KalshiHarness.request("c-written").request
        _ = harness.venue.prepare(order)
        let taken = try #require(await harness.venue.presigned.take(clientOrderID: "c-written", maxAgeMilliseconds: 1_000,
                                                                      now: { clock.nowMilliseconds() }))
        let written = try #require(taken.written)
        let text = String(buffer: written.bytes)
        #expect(text.hasPrefix("POST /trade-api/v2/portfolio/events/orders HTTP/1.1\r\n"), "\(text)")
        for (name, value) in taken.headers.pairs { #expect(text.contains("\r\n\(name): \(value)\r\n"), "missing \(name)") }
        let body = try KalshiCreateOrderBody(order, selfTradePrevention: harness.venue.options.selfTradePrevention).json
        #expect(text.hasSuffix("\r\n\r\n" + body))
        #expect(harness.exchange.requests.isEmpty, "prepare sent something")
        #expect(await harness.venue.presigned.take(clientOrderID: "c-written", maxAgeMilliseconds: 1_000,
                                                   now: { clock.nowMilliseconds() }) == nil)
    }
}

import ArbEngine
import Foundation
import KalshiVenue
import LoopbackExchange
import Logging
import Metrics
import OrderStateMachine
import PolymarketVenue
import Synchronization

/// `wire_detect_to_request`: from a book message arriving on the trader's websocket to both
/// signed order requests fully received by the exchange's HTTP servers, at `synchronous=FULL`.
///
/// The loopback exchange runs in this process (both venues, zero simulated latency, every order
/// filled, books moved only by the benchmark). The trader side is `arb run --demo loopback`'s
/// parts: the real Kalshi and Polymarket adapters built from the exchange's config by
/// `Trader.makeVenues`, their websocket book feeds (`VenueBookFeeds`, as `Trader.trade` builds
/// them), the `Detector` in a loop that drains the feeds whenever `waitForEvents` returns (as
/// `Trader.trade` does), and an `Executor` over a `Store` at full on a scratch file.
///
/// Start: the instant the exchange's event loop passes the completing `price_change` frame's
/// flush to the socket (`FlushMark`, next to the socket; the `write` system call follows at once
/// and, on loopback TCP, queues the bytes to the trader's socket) — the message arriving, a little
/// early rather than late. `LoopbackExchange.setBook`
/// called → that instant (the exchange building the message and the hop to its event loop) is
/// reported beside the figure, not in it. End: the later of the two order requests
/// (`POST …/portfolio/events/orders`, `POST /order`) whose last byte the exchange's HTTP handler
/// has read (`.end`), before it is answered. Both on `CLOCK_MONOTONIC`.
enum WireDetectToRequest {
    struct Result: Sendable {
        var latency: LatencySummary
        /// Raw full commits (the transition_commit raw loop) interleaved with the iterations.
        var rawInterleaved: LatencySummary
        /// Start → the detector's candidate (websocket, feed parsing, book, detector).
        var toCandidate: LatencySummary
        /// `Ledger.begin` on the path (the create-and-begin commit with both legs' `prepare`),
        /// from its `arb_transition_commit_seconds{kind="begin"}` timer.
        var beginCommit: LatencySummary
        /// The begin's two parts, split where its transaction is about to commit (the store's
        /// commit hook): the inserts and both legs' `prepare`, then the `COMMIT` statement
        /// (WAL write and `fdatasync`) to the begin's return.
        var beginUpToCommit: LatencySummary
        var beginCommitStatement: LatencySummary
        /// The begin commit's return → both requests fully received.
        var commitToRequests: LatencySummary
        /// Outside the figure, the exchange's side: `setBook` called → the frame in the socket.
        var exchangeToSocket: LatencySummary
        var hedged: Int
    }

    /// The instants of one iteration, written by the exchange's event loops, the detection loop
    /// and the begin commit's timer.
    struct Marks: Sendable {
        var requests: [String: UInt64] = [:]
        var candidate: UInt64?
        var beginReturned: UInt64?
        var beginNanoseconds: Int64?
        /// The last write transaction's commit hook before the begin returned: the begin's own.
        var willCommit: UInt64?
    }

    static let marks = Mutex(Marks())

    enum Signal: Sendable {
        case applied(Quote)
        case finished(ExecutionOutcome)
    }

    static func run(in directory: String, size: RunSize) async throws -> Result {
        // The begin commit's duration and return instant, from the ledger's own timer: nothing
        // in the executor is wrapped or changed. Only this figure bootstraps metrics, and it runs
        // last, so the other figures keep swift-metrics' no-op backend.
        MetricsSystem.bootstrap(BeginCommitMetrics())
        var options = LoopbackExchange.Options(seed: 1, directory: "\(directory)/wire")
        options.movesBooks = false
        options.fillModel = BenchConfig.zeroLatencyFills
        options.polymarketConfirmAfterMilliseconds = 0
        options.requestReceived = { venue, method, uri in
            guard method == "POST", uri == "/order" || uri.hasSuffix("/portfolio/events/orders") else { return }
            let now = monotonicNanoseconds()
            marks.withLock { if $0.requests[venue] == nil { $0.requests[venue] = now } }
        }
        let exchange = try await LoopbackExchange.start(options)
        do {
            let result = try await measure(exchange, directory: directory, size: size)
            await exchange.stop()
            return result
        } catch {
            await exchange.stop()
            throw error
        }
    }

    private static func measure(_ exchange: LoopbackExchange, directory: String, size: RunSize) async throws -> Result {
        var config = try TraderConfig.load(path: exchange.configPath)
        config.databasePath = "\(directory)/wire.db"
        config.durability = .full
        config.execution = ExecutionConfig(timeInForce: .ioc, fillTimeoutMilliseconds: 200)
        config.risk = BenchConfig.risk
        // Only the benchmark moves these books, one market at a time: the default silence limit
        // (the demo's 1 s would untrust quiet books and reconnect the feed mid-run).
        if case .polymarket(var settings)? = config.venues["polymarket"]?.settings {
            settings.bookSilenceMilliseconds = 30_000
            config.venues["polymarket"]?.settings = .polymarket(settings)
        }
        let clock = SystemClock()
        let logger = BenchConfig.quietLogger
        let venues = try Trader.makeVenues(config, runSeed: 1, clock: clock, environment: [:], logger: logger)
        guard venues["kalshi"] is KalshiVenue, venues["polymarket"] is PolymarketVenue else {
            throw BenchError("wire_detect_to_request: the loopback config's venues are not Kalshi and Polymarket adapters")
        }
        // The instant the begin's transaction is about to commit, from the store's own hook
        // (`Ledger.begin` leaves it in place when no fault is armed): nothing else is wrapped.
        let engine = try BenchEngine(databasePath: config.databasePath, durability: .full, venues: venues,
                                     execution: config.execution) {
            let now = monotonicNanoseconds()
            marks.withLock { if $0.candidate != nil && $0.beginReturned == nil { $0.willCommit = now } }
        }
        let executor = engine.executor

        // The feeds as `Trader.trade` runs them: `VenueBookFeeds` (each venue's websocket, fills
        // routed to their adapters), drained by the detection loop whenever `waitForEvents`
        // returns — on a feed's event, or after 2 ms.
        let books = VenueBookFeeds(config: config, venues: venues, clock: clock, logger: logger)
        guard books.feeds.count == 3 else {
            throw BenchError("wire_detect_to_request: the loopback config gives \(books.feeds.count) feeds, not Kalshi's, Polymarket's market and user channels")
        }
        let feeding = Task { await books.run(clock: clock) }
        defer { feeding.cancel() }

        // The detection loop, as `Trader.trade` runs it: each quote through the detector, each
        // candidate taken by `Executor.take` (its begin on this task, the rest in a child task).
        let (signals, signal) = AsyncStream<Signal>.makeStream()
        let detection = Task { [config] in
            var detector = Detector(config: config, venueFees: venues.mapValues(\.feeModel))
            await withDiscardingTaskGroup { executions in
                while !Task.isCancelled {
                    for quote in books.drain().flatMap(\.detectorQuotes) {
                        if let candidate = detector.update(quote, nowMilliseconds: clock.nowMilliseconds()) {
                            let now = monotonicNanoseconds()
                            marks.withLock { if $0.candidate == nil { $0.candidate = now } }
                            await executor.take(candidate, in: &executions) { signal.yield(.finished($0)) }
                        }
                        signal.yield(.applied(quote))
                    }
                    await books.waitForEvents(orMilliseconds: 2, clock: clock)
                }
            }
        }
        defer { detection.cancel() }
        var waiting = signals.makeAsyncIterator()

        /// Waits for the detection loop to have taken `quote`'s price (untimed set-up).
        func applied(_ venue: String, _ instrument: String, ask: Int64) async throws {
            let deadline = monotonicNanoseconds() + 5_000_000_000
            var last: Signal?
            while let next = await waiting.next() {
                if case .applied(let quote) = next, quote.venue == venue, quote.instrument == instrument, quote.ask?.ticks == ask {
                    return
                }
                last = next
                guard monotonicNanoseconds() < deadline else { break }
            }
            throw BenchError("wire_detect_to_request: the feed never delivered \(venue) \(instrument) at \(ask) (last: \(last.map { "\($0)" } ?? "none"); feeds \(books.statuses))")
        }
        func finished() async throws -> ExecutionOutcome {
            while let next = await waiting.next() {
                if case .finished(let outcome) = next { return outcome }
            }
            throw BenchError("wire_detect_to_request: the detection loop ended")
        }
        func quiesce() async throws {
            var quiet = 0
            let deadline = monotonicNanoseconds() + 10_000_000_000
            while quiet < 4, monotonicNanoseconds() < deadline {
                try await Task.sleep(for: .microseconds(500))
                quiet = exchange.requestsInFlight == 0 ? quiet + 1 : 0
            }
        }
        let size10 = Quantity(contracts: 10)
        func set(_ venue: String, _ instrument: String, ask: Int64) {
            exchange.setBook(Quote(timestampMilliseconds: clock.nowMilliseconds(), venue: venue, instrument: instrument, bid: nil,
                                   bidSize: .zero, ask: Price(ticks: ask), askSize: size10))
        }

        // The start checks `Trader.run` makes before trading: each adapter's first request opens
        // the connection its pool keeps alive, so the first order does not pay a connect.
        for name in venues.keys.sorted() {
            let refusals = await venues[name]!.startChecks()
            guard refusals.isEmpty else { throw BenchError("wire_detect_to_request: \(name) start checks: \(refusals)") }
        }
        let raw = try RawBaseline(path: "\(directory)/wire-raw.db", durability: .full, count: size.wireWarmup + size.wireIterations + 10)

        progress("wire_detect_to_request: \(size.wireIterations) opportunities over the loopback exchange at full")
        var samples = Samples(capacity: size.wireIterations)
        var rawSamples = Samples(capacity: size.wireIterations)
        var toCandidate = Samples(capacity: size.wireIterations)
        var begin = Samples(capacity: size.wireIterations)
        var upToCommit = Samples(capacity: size.wireIterations)
        var commitStatement = Samples(capacity: size.wireIterations)
        var afterCommit = Samples(capacity: size.wireIterations)
        var toSocket = Samples(capacity: size.wireIterations)
        var hedged = 0
        for index in 0..<(size.wireWarmup + size.wireIterations) {
            // A fresh opportunity each time: the events in turn, the previous one on each closed.
            let event = config.events[index % config.events.count]
            guard let yes = event.instruments["kalshi"]?["YES"], let no = event.instruments["polymarket"]?["NO"] else {
                throw BenchError("wire_detect_to_request: event \(event.eventID) lacks kalshi YES or polymarket NO")
            }
            // Untimed: Polymarket's NO out of reach first ($1.05 with Kalshi's YES), then Kalshi's
            // YES refreshed (alternating by a tick on each visit, so a message goes out and the
            // quote is fresh).
            set("polymarket", no, ask: 6_000)
            try await applied("polymarket", no, ask: 6_000)
            let yesAsk: Int64 = (index / config.events.count) % 2 == 0 ? 4_500 : 4_490
            set("kalshi", yes, ask: yesAsk)
            try await applied("kalshi", yes, ask: yesAsk)

            var path: UInt64 = 0
            var rawTime: UInt64 = 0
            /// → candidate, the begin (up to COMMIT, the COMMIT), commit returned → requests.
            var split: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            var exchangeSide: UInt64 = 0
            for slot in 0..<2 {
                if (index + slot) % 2 == 1 {
                    rawTime = try raw.timedTransition()
                    continue
                }
                marks.withLock { $0 = Marks() }
                _ = exchange.counters.takeBookFrameFlushed()
                let setCalled = monotonicNanoseconds()
                set("polymarket", no, ask: 5_000)
                let outcome = try await finished()
                let mark = marks.withLock { $0 }
                let written = exchange.counters.takeBookFrameFlushed()
                guard let kalshiAt = mark.requests["kalshi"], let polymarketAt = mark.requests["polymarket"],
                      let candidate = mark.candidate, let returned = mark.beginReturned, let took = mark.beginNanoseconds,
                      let willCommit = mark.willCommit, willCommit <= returned, returned - willCommit <= UInt64(max(0, took)),
                      let start = written, start >= setCalled, candidate >= start else {
                    throw BenchError("iteration \(index): outcome \(outcome), marks \(mark), set \(setCalled), written \(String(describing: written))")
                }
                if outcome == .closed(.hedged) { hedged += 1 }
                let end = max(kalshiAt, polymarketAt)
                let statement = returned - willCommit
                path = end - start
                split = (candidate - start, UInt64(max(0, took)) - statement, statement, end - returned)
                exchangeSide = start - setCalled
                // The follow-up (fill and trade pushes, the adapters' REST reads of them, the
                // exchange's answers) finishes before anything else runs: no request in flight
                // for 2 ms in a row.
                try await quiesce()
            }
            if index >= size.wireWarmup {
                samples.append(path)
                rawSamples.append(rawTime)
                toCandidate.append(split.0)
                begin.append(split.1 + split.2)
                upToCommit.append(split.1)
                commitStatement.append(split.2)
                afterCommit.append(split.3)
                toSocket.append(exchangeSide)
            }
        }
        guard hedged == size.wireWarmup + size.wireIterations else {
            throw BenchError("wire_detect_to_request: only \(hedged) of \(size.wireWarmup + size.wireIterations) runs closed hedged")
        }
        return Result(latency: samples.summary(), rawInterleaved: rawSamples.summary(), toCandidate: toCandidate.summary(),
                      beginCommit: begin.summary(), beginUpToCommit: upToCommit.summary(),
                      beginCommitStatement: commitStatement.summary(), commitToRequests: afterCommit.summary(), exchangeToSocket: toSocket.summary(),
                      hedged: hedged)
    }
}

/// A metrics backend that hears one timer, the ledger's begin commit, and notes when it returned.
private final class BeginCommitMetrics: MetricsFactory {
    final class BeginTimer: TimerHandler {
        func recordNanoseconds(_ duration: Int64) {
            let now = monotonicNanoseconds()
            WireDetectToRequest.marks.withLock { marks in
                if marks.beginReturned == nil {
                    marks.beginReturned = now
                    marks.beginNanoseconds = duration
                }
            }
        }
        func preferDisplayUnit(_ unit: TimeUnit) {}
    }

    let timer = BeginTimer()

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        label == "arb_transition_commit_seconds" && dimensions.contains { $0 == ("kind", "begin") } ? timer : NOOPMetricsHandler.instance
    }
    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { NOOPMetricsHandler.instance }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        NOOPMetricsHandler.instance
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

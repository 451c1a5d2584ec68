import ArbEngine
import OrderStateMachine

/// `detect_to_submit`: from the quote that creates an opportunity to both legs handed to the
/// venues, at `synchronous=FULL`.
///
/// The venues are the real paper venues (their own SQLite files, zero simulated latency, every
/// order filled), each behind a `TimedVenue` that notes the instant `submit` is called. The path
/// measured is `Trader.trade`'s: `Detector.update` → `Executor.take` (on the same task: the risk
/// gate, the create-and-begin commit with the halt flag read inside it; then an immediate child
/// task) → both submits started concurrently. The clock stops
/// when the later of the two submits is entered.
enum DetectToSubmit {
    struct Result: Sendable {
        var latency: LatencySummary
        /// How the runs ended: every one must close hedged.
        var hedged: Int
        /// The one commit on the path alone: `Store.createAndBegin` (opportunity, two log rows,
        /// two legs) at full, on its own file, interleaved with the iterations.
        var createAndBegin: LatencySummary
        /// WAL frames (pages) each commit appends: create-and-begin, and the raw baseline's UPDATE.
        var framesPerCreateAndBegin: Double
        /// Raw full commits (the transition_commit baseline) interleaved with the iterations.
        var rawInterleaved: LatencySummary
    }

    static func run(in directory: String, size: RunSize) async throws -> Result {
        let base = "\(directory)/detect"
        let clock = SystemClock()
        let kalshi = TimedVenue(try PaperVenue(name: "kalshi", path: "\(base)-paper-kalshi.db",
                                               fillModel: BenchConfig.zeroLatencyFills, feeModel: BenchConfig.kalshiFee,
                                               runSeed: 1, clock: clock))
        let polymarket = TimedVenue(try PaperVenue(name: "polymarket", path: "\(base)-paper-polymarket.db",
                                                   fillModel: BenchConfig.zeroLatencyFills,
                                                   feeModel: BenchConfig.polymarketFee, runSeed: 1, clock: clock))
        let execution = ExecutionConfig(timeInForce: .ioc, fillTimeoutMilliseconds: 200)
        let config = BenchConfig.trader(events: 1, databasePath: "\(base).db", execution: execution)
        let engine = try BenchEngine(databasePath: config.databasePath, durability: .full,
                                     venues: ["kalshi": kalshi, "polymarket": polymarket], execution: execution)
        var detector = Detector(config: config, venueFees: BenchConfig.venueFees)
        let executor = engine.executor
        // Beside the path, in the same iterations (so on the same disk moments): the raw baseline
        // commit, and the path's one commit alone.
        let raw = try RawBaseline(path: "\(base)-raw.db", durability: .full,
                                  count: size.detectWarmup + size.detectIterations)
        // Its checkpoints off the commits, as the trader's and the path's store have them — but
        // run here, untimed, between iterations (`commitCheckpoints`): a checkpoint of this
        // second file in the background would land in the path's own begins (3 % of them, p99
        // 0.7–0.8 ms, a third of those from this file), which a trader, with one file, never has.
        let commitStore = try Store(path: "\(base)-commit.db", durability: .full, checkpoints: .background)
        let commitCheckpoints = try RawConnection(path: "\(base)-commit.db", synchronous: "FULL")

        let size10 = Quantity(contracts: 10)
        func quote(_ venue: String, _ instrument: String, ask: Int64, at now: Int64) -> Quote {
            Quote(timestampMilliseconds: now, venue: venue, instrument: instrument, bid: nil, bidSize: .zero,
                  ask: Price(ticks: ask), askSize: size10)
        }

        progress("detect_to_submit: \(size.detectIterations) opportunities at full")
        var samples = Samples(capacity: size.detectIterations)
        var rawSamples = Samples(capacity: size.detectIterations)
        var commitSamples = Samples(capacity: size.detectIterations)
        var hedged = 0
        let (outcomes, outcome) = AsyncStream<ExecutionOutcome>.makeStream()
        var nextOutcome = outcomes.makeAsyncIterator()
        let looped: Swift.Result<Void, any Error> = await withDiscardingTaskGroup { executions in
            /// One opportunity from its completing quote; the time to both submits.
            func path(_ index: Int) async throws -> UInt64 {
                let now = wallMilliseconds()
                // Untimed: the pair is not tradable ($1.05), then leg A's book is set.
                _ = detector.update(quote("polymarket", "PM-EV0-NO", ask: 6_000, at: now), nowMilliseconds: now)
                _ = detector.update(quote("kalshi", "KX-EV0-YES", ask: 4_500, at: now), nowMilliseconds: now)
                kalshi.reset()
                polymarket.reset()
                let completing = quote("polymarket", "PM-EV0-NO", ask: 5_000, at: now)

                let start = monotonicNanoseconds()
                guard let candidate = detector.update(completing, nowMilliseconds: now) else {
                    throw BenchError("the completing quote found no opportunity")
                }
                await executor.take(candidate, in: &executions) { outcome.yield($0) }  // as Trader.trade takes one
                let ended = await nextOutcome.next()

                let submits = kalshi.marks.withLock { $0.submits } + polymarket.marks.withLock { $0.submits }
                guard submits.count == 2, let last = submits.max() else {
                    throw BenchError("iteration \(index): \(submits.count) submits, outcome \(String(describing: ended))")
                }
                if ended == .closed(.hedged) { hedged += 1 }
                return last - start
            }
            do {
                for index in 0..<(size.detectWarmup + size.detectIterations) {
                    // The three in a rotating order, so none always follows the same one.
                    var times: [Int: UInt64] = [:]
                    for slot in 0..<3 {
                        switch (index + slot) % 3 {
                        case 0: times[0] = try await path(index)
                        case 1: times[1] = try raw.timedTransition()
                        default:
                            times[2] = try createAndBegin(commitStore, index: index)
                            try close(commitStore)
                        }
                    }
                    // Well before its WAL reaches the background threshold (1,000 frames). PASSIVE:
                    // the log is reused from its start, not truncated (a growing log is slower).
                    if index % 40 == 39 { try commitCheckpoints.execute("PRAGMA wal_checkpoint(PASSIVE)") }
                    if index >= size.detectWarmup {
                        samples.append(times[0]!)
                        rawSamples.append(times[1]!)
                        commitSamples.append(times[2]!)
                    }
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try looped.get()
        guard hedged == size.detectWarmup + size.detectIterations else {
            throw BenchError("detect_to_submit: only \(hedged) runs closed hedged")
        }
        // Frames per commit: each begin alone on a fresh WAL, on the keys that come next (ids
        // continue as a trader's do: a jump to far-away keys would land index entries mid-page
        // and count the splits).
        let counted = 50
        let next = size.detectWarmup + size.detectIterations
        var frames: Int64 = 0
        for index in next..<(next + counted) {
            try commitStore.checkpoint()
            _ = try createAndBegin(commitStore, index: index)
            frames += try TransitionCommit.walFrames(path: commitStore.path)
            try close(commitStore)
        }
        return Result(latency: samples.summary(), hedged: hedged, createAndBegin: commitSamples.summary(),
                      framesPerCreateAndBegin: Double(frames) / Double(counted), rawInterleaved: rawSamples.summary())
    }

    /// One `Store.createAndBegin` with the legs `Ledger.begin` writes, on a new key; its duration.
    static func createAndBegin(_ store: Store, index: Int) throws -> UInt64 {
        let new = NewOpportunity(
            eventID: "EV-\(index)",
            legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "KX-EV0-YES", price: Price(ticks: 4_500)!),
            legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: "PM-EV0-NO", price: Price(ticks: 5_000)!),
            edgeBps: 245, quantity: Quantity(contracts: 10), expectedFees: Money(cents: 26),
            detectedAtMilliseconds: wallMilliseconds())
        let start = monotonicNanoseconds()
        let result = try store.createAndBegin(new, reason: "risk gate passed; edge 245 bps",
                                              refusal: { try store.admissionRefusal(eventID: new.eventID) }) { id in
            [(LegName.a, new.legA), (.b, new.legB)].map { leg, quote in
                LegIntent(leg: leg, venue: quote.venue, instrument: quote.instrument, side: .buy,
                          limitPrice: quote.price, quantity: new.quantity, timeInForce: .ioc,
                          clientOrderID: store.clientOrderID(opportunity: id, leg: leg),
                          venueOrderID: "\(quote.venue)-\(id)-\(leg.rawValue)")
            }
        }
        let elapsed = monotonicNanoseconds() - start
        guard case .created = result else { throw BenchError("create-and-begin \(index): \(result)") }
        return elapsed
    }

    /// Closes (untimed) what `createAndBegin` opened, as the path's executions close theirs: a
    /// trader's live dedup index holds its few live rows, not every row it ever began.
    static func close(_ store: Store) throws {
        for opportunity in try store.nonTerminalOpportunities() {
            _ = try store.transition(opportunity.id, from: opportunity.state, TransitionStep(.closedByOperator, reason: "bench"),
                                     at: wallMilliseconds())
        }
    }
}

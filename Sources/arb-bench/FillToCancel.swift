import ArbEngine
import OrderStateMachine
import Synchronization

/// `fill_to_cancel`: from leg A's fill event to leg B's cancel request.
///
/// Leg A is a `PushVenue` (in memory) whose fill the benchmark yields on the venue's event stream
/// at a noted instant, as the paper venue yields its fills; leg B is the real paper venue (GTC,
/// scripted to rest) behind a `TimedVenue` that notes when `cancel` is called. Both legs rest,
/// `LegsPlaced` is committed and the executor waits on its signals; then A fills. The path
/// measured is the production one: venue stream → routing task → `EventRouter.route` → the
/// execution's stream → `Executor` sees the imbalance → cancel task → `venue.cancel`.
///
/// The floor beside it sends a bare timestamp through the same hops (two streams, a routing task
/// with a locked dictionary lookup, an unstructured task with a task group child) doing nothing else.
enum FillToCancel {
    struct Result: Sendable {
        var latency: LatencySummary
        var floor: LatencySummary
        /// `OneSidedAlert.make` alone: the executor formats this alert between starting the
        /// cancel task and waiting for it.
        var alertMake: LatencySummary
    }

    static func run(in directory: String, size: RunSize) async throws -> Result {
        let base = "\(directory)/fill"
        let kalshi = PushVenue(name: "kalshi")
        let paper = try PaperVenue(
            name: "polymarket", path: "\(base)-paper-polymarket.db", fillModel: BenchConfig.zeroLatencyFills,
            feeModel: BenchConfig.polymarketFee, runSeed: 1, clock: SystemClock(),
            behaviour: PaperBehaviour(fateForInstrument: ["PM-EV0-NO": .rest]))
        let polymarket = TimedVenue(paper)
        let execution = ExecutionConfig(timeInForce: .gtc, fillTimeoutMilliseconds: 60_000)
        let engine = try BenchEngine(databasePath: "\(base).db", durability: .full,
                                     venues: ["kalshi": kalshi, "polymarket": polymarket], execution: execution)
        let executor = engine.executor
        let reader = try Connection(path: "\(base).db", mode: .readOnly)
        let stateOfLeg = try reader.prepare("""
            SELECT o.state FROM opportunities o JOIN legs l ON l.opportunity_id = o.id WHERE l.client_order_id = ?
            """)

        progress("fill_to_cancel: \(size.fillIterations) one-sided executions at full")
        var samples = Samples(capacity: size.fillIterations)
        for index in 0..<(size.fillWarmup + size.fillIterations) {
            polymarket.reset()
            kalshi.lastClientOrderID.withLock { $0 = nil }
            let running = Task { await executor.run(candidate()) }

            // Wait until LegsPlaced is committed, then give the executor a moment to park on its signals.
            var legA: String?
            for _ in 0..<20_000 {
                if let id = kalshi.lastClientOrderID.withLock({ $0 }),
                   try stateOfLeg.queryOne(id, row: { $0.text(0) }) == "LegsPlaced"
                {
                    legA = id
                    break
                }
                try await Task.sleep(for: .microseconds(200))
            }
            guard let legA else { throw BenchError("fill_to_cancel: LegsPlaced never committed") }
            try await Task.sleep(for: .milliseconds(1))

            guard let start = kalshi.pushFill(clientOrderID: legA) else { throw BenchError("unknown order \(legA)") }
            let outcome = await running.value
            guard outcome == .closed(.oneSided), let cancel = polymarket.marks.withLock({ $0.cancels.first }) else {
                throw BenchError("fill_to_cancel iteration \(index): \(outcome), no cancel of leg B")
            }
            if index >= size.fillWarmup { samples.append(cancel - start) }
        }
        progress("fill_to_cancel: floor of the same hops")
        let floor = try await hopFloor(iterations: size.fillIterations, warmup: size.fillWarmup)
        return Result(latency: samples.summary(), floor: floor, alertMake: alertMakeLatency(iterations: size.fillIterations))
    }

    /// The one-sided alert of this figure's executions (10 contracts filled at kalshi, the
    /// polymarket leg's cancel sent), formatted `iterations` times.
    static func alertMakeLatency(iterations: Int) -> LatencySummary {
        let filled = AlertLeg(clientOrderID: "arb-bench-1-a", venue: "kalshi", instrument: "KX-EV0-YES", outcome: "YES", side: .buy,
                              limitPrice: Price(ticks: 4_500)!, filled: Quantity(contracts: 10),
                              cost: Money(cents: 450), fees: .zero, cancelAttempted: false, cancelSucceeded: nil)
        let other = AlertLeg(clientOrderID: "arb-bench-1-b", venue: "polymarket", instrument: "PM-EV0-NO", outcome: "NO", side: .buy,
                             limitPrice: Price(ticks: 5_000)!, filled: .zero, cost: .zero, fees: .zero,
                             cancelAttempted: true, cancelSucceeded: nil)
        var samples = Samples(capacity: iterations)
        var bytes = 0
        for index in 0..<(iterations + 10) {
            let start = monotonicNanoseconds()
            let alert = OneSidedAlert.make(databaseID: "bench", opportunity: Int64(index + 1), eventID: "EV-0", edgeBps: 300,
                                           legA: filled, legB: other, phase: .detected)
            let elapsed = monotonicNanoseconds() - start
            bytes &+= alert.bodyJSON.utf8.count
            if index >= 10 { samples.append(elapsed) }
        }
        precondition(bytes > 0)
        return samples.summary()
    }

    static func candidate() -> Candidate {
        let priceA = Price(ticks: 4_500)!
        let priceB = Price(ticks: 5_000)!
        let size = Quantity(contracts: 10)
        let new = NewOpportunity(
            eventID: "EV-0", legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "KX-EV0-YES", price: priceA),
            legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: "PM-EV0-NO", price: priceB),
            edgeBps: 300, quantity: size, expectedFees: .zero, detectedAtMilliseconds: wallMilliseconds())
        let cost = Money(price: priceA, quantity: size) + Money(price: priceB, quantity: size)
        return Candidate(opportunity: new, quoteAgeMilliseconds: 0, isStale: false, cost: cost, fees: .zero,
                         netProfit: Money(micros: size.hundredths * 10_000) - cost)
    }

    /// The scheduling floor of the path: the same stream and task hops carrying only a timestamp.
    static func hopFloor(iterations: Int, warmup: Int) async throws -> LatencySummary {
        let (venueEvents, venue) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .unbounded)
        let (signals, execution) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .unbounded)
        let (results, result) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .unbounded)
        let routes = Mutex<[String: AsyncStream<UInt64>.Continuation]>(["leg-a": execution])
        let routing = Task {
            for await start in venueEvents { routes.withLock { $0["leg-a"] }?.yield(start) }
        }
        let executing = Task {
            for await start in signals {
                let cancels = Task {
                    await withTaskGroup(of: UInt64.self) { group in
                        group.addTask { monotonicNanoseconds() }
                        return await group.next() ?? 0
                    }
                }
                result.yield(await cancels.value - start)
            }
        }
        defer {
            routing.cancel()
            executing.cancel()
        }
        var samples = Samples(capacity: iterations)
        var iterator = results.makeAsyncIterator()
        for index in 0..<(warmup + iterations) {
            try await Task.sleep(for: .milliseconds(1))
            venue.yield(monotonicNanoseconds())
            guard let elapsed = await iterator.next() else { throw BenchError("hop floor ended") }
            if index >= warmup { samples.append(elapsed) }
        }
        return samples.summary()
    }
}

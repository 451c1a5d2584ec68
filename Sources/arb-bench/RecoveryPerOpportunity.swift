import ArbEngine
import OrderStateMachine

/// `recovery_per_opportunity`: a restart that finds N non-terminal opportunities spread evenly
/// over every state (and every situation recovery distinguishes), reconciled against the paper
/// venues with `Reconciler.run()` — the code `arb run` runs before its first trade.
///
/// The database and the paper venues' files are seeded through the real APIs (`Store`,
/// `PaperVenue.submit`/`cancel`) at `synchronous=NORMAL` for speed; then everything is closed and
/// reopened as a restarted trader opens it, at `FULL`, and only `run()` is timed.
enum RecoveryPerOpportunity {
    /// What a seeded opportunity looks like when the trader "crashes".
    enum Seeded: String, CaseIterable {
        /// Nothing sent: closed abandoned.
        case detected
        /// Intents committed, nothing sent: both orders not found, closed no_fill.
        case inFlightNeverSent = "in_flight_never_sent"
        /// Both sent and filled, the answers lost: fills fetched, closed hedged.
        case inFlightFilled = "in_flight_filled"
        /// Both resting: both cancelled at the venue, closed no_fill.
        case legsPlaced = "legs_placed"
        /// A filled, B resting: B cancelled, closed one_sided with its alert.
        case oneSided = "one_sided"
        /// A filled, B already cancelled: closed one_sided with its alert.
        case cancelAttempted = "cancel_attempted"
        /// Both filled and recorded: closed hedged.
        case filled
    }

    struct Result: Sendable {
        var opportunities: Int
        var totalSeconds: Double
        var microsecondsPerOpportunity: Double
        var closedByOutcome: [String: Int]
        var seededByKind: [String: Int]
        var setupSeconds: Double
        /// The same recovery with the trader at `synchronous=NORMAL`: what is left without the
        /// fsync of each opportunity's commit.
        var microsecondsPerOpportunityAtNormal: Double
        /// Raw full commits (the transition_commit baseline) just before and just after the
        /// timed recovery at full: the disk as the recovery saw it.
        var rawBefore: LatencySummary?
        var rawAfter: LatencySummary?
    }

    static func run(in directory: String, size: RunSize) async throws -> Result {
        let full = try await run(in: directory, name: "recovery", durability: .full, size: size)
        let normal = try await run(in: directory, name: "recovery-normal", durability: .normal, size: size)
        var result = full
        result.microsecondsPerOpportunityAtNormal = normal.microsecondsPerOpportunity
        return result
    }

    static func run(in directory: String, name: String, durability: Durability, size: RunSize) async throws -> Result {
        let count = size.recoveryOpportunities
        let databasePath = "\(directory)/\(name).db"
        let kalshiPath = "\(directory)/\(name)-paper-kalshi.db"
        let polymarketPath = "\(directory)/\(name)-paper-polymarket.db"
        let clock = SystemClock()

        progress("recovery_per_opportunity: seeding \(count) non-terminal opportunities")
        let setupStart = monotonicNanoseconds()
        var seeded: [String: Int] = [:]
        do {
            let fates = PaperBehaviour(fateForInstrument: ["KX-FILL": .fill, "KX-REST": .rest,
                                                           "PM-FILL": .fill, "PM-REST": .rest])
            let store = try Store(path: databasePath, durability: .normal)
            let kalshi = try PaperVenue(name: "kalshi", path: kalshiPath, fillModel: BenchConfig.zeroLatencyFills,
                                        feeModel: BenchConfig.kalshiFee, runSeed: 1, clock: clock, behaviour: fates)
            let polymarket = try PaperVenue(name: "polymarket", path: polymarketPath, fillModel: BenchConfig.zeroLatencyFills,
                                            feeModel: BenchConfig.polymarketFee, runSeed: 1, clock: clock, behaviour: fates)
            let seeder = Seeder(store: store, kalshi: kalshi, polymarket: polymarket)
            for index in 0..<count {
                let kind = Seeded.allCases[index % Seeded.allCases.count]
                try await seeder.seed(kind, index: index)
                seeded[kind.rawValue, default: 0] += 1
            }
            try store.checkpoint()
        }
        let setupSeconds = Double(monotonicNanoseconds() - setupStart) / 1e9

        // The restart: everything reopened, the venues with no script.
        let ledger = Ledger(store: try Store(path: databasePath, access: .existing, durability: durability))
        let kalshi = try PaperVenue(name: "kalshi", path: kalshiPath, fillModel: BenchConfig.zeroLatencyFills,
                                    feeModel: BenchConfig.kalshiFee, runSeed: 1, clock: clock)
        let polymarket = try PaperVenue(name: "polymarket", path: polymarketPath, fillModel: BenchConfig.zeroLatencyFills,
                                        feeModel: BenchConfig.polymarketFee, runSeed: 1, clock: clock)
        // As `arb run` and `arbadmin reconcile` run it (Reconciler.concurrencyForRuns at a time).
        let reconciler = Reconciler(ledger: ledger, venues: ["kalshi": kalshi, "polymarket": polymarket], clock: clock,
                                    logger: BenchConfig.quietLogger, concurrency: Reconciler.concurrencyForRuns)
        // The baseline brackets the recovery (Reconciler.run is one call: it cannot be interleaved).
        let bracket = size.recoveryBaselineCommits
        let raw = durability == .full ? try RawBaseline(path: "\(directory)/\(name)-raw.db", durability: .full, count: 2 * bracket) : nil
        var before = Samples(capacity: bracket)
        for _ in 0..<bracket { if let raw { before.append(try raw.timedTransition()) } }

        progress("recovery_per_opportunity: reconciling \(count) at \(durability.rawValue)")
        let start = monotonicNanoseconds()
        let report = try await reconciler.run()
        let elapsed = monotonicNanoseconds() - start
        var after = Samples(capacity: bracket)
        for _ in 0..<bracket { if let raw { after.append(try raw.timedTransition()) } }

        let closed = report.closedByOutcome.values.reduce(0, +)
        guard report.examined == count, report.isClean, closed == count else {
            throw BenchError("recovery examined \(report.examined), closed \(closed) of \(count); needs attention: \(report.needsAttention.prefix(3))")
        }
        let left = try await ledger.withStore { try $0.nonTerminalOpportunities().count }
        guard left == 0 else { throw BenchError("recovery left \(left) opportunities non-terminal") }
        return Result(
            opportunities: count, totalSeconds: Double(elapsed) / 1e9,
            microsecondsPerOpportunity: Double(elapsed) / 1_000 / Double(count),
            closedByOutcome: Dictionary(uniqueKeysWithValues: report.closedByOutcome.map { ($0.key.rawValue, $0.value) }),
            seededByKind: seeded, setupSeconds: setupSeconds, microsecondsPerOpportunityAtNormal: 0,
            rawBefore: raw == nil ? nil : before.summary(), rawAfter: raw == nil ? nil : after.summary())
    }

    /// Puts one opportunity into a state, and the venues into the matching truth, through the
    /// same calls the executor makes.
    struct Seeder {
        let store: Store
        let kalshi: PaperVenue
        let polymarket: PaperVenue

        func seed(_ kind: Seeded, index: Int) async throws {
            let now = wallMilliseconds()
            switch kind {
            case .detected:
                guard case .created = try store.createOpportunity(new(index, "KX-REST", "PM-REST", at: now)) else {
                    throw BenchError("seed \(index): duplicate")
                }
            case .inFlightNeverSent:
                _ = try begin(new(index, "KX-REST", "PM-REST", at: now))
            case .inFlightFilled:
                let (_, a, b) = try begin(new(index, "KX-FILL", "PM-FILL", at: now))
                _ = try await kalshi.submit(a)
                _ = try await polymarket.submit(b)
            case .legsPlaced:
                let (id, a, b) = try begin(new(index, "KX-REST", "PM-REST", at: now))
                let ackA = try await kalshi.submit(a)
                let ackB = try await polymarket.submit(b)
                try advance(id, [.legsAcknowledged], legs: [update(ackA.order), update(ackB.order)], fills: [], at: now)
            case .oneSided:
                let (id, a, b) = try begin(new(index, "KX-FILL", "PM-REST", at: now))
                let ackA = try await kalshi.submit(a)
                let ackB = try await polymarket.submit(b)
                try advance(id, [.imbalanced], legs: [update(ackA.order), update(ackB.order)], fills: ackA.fills, at: now)
            case .cancelAttempted:
                let (id, a, b) = try begin(new(index, "KX-FILL", "PM-REST", at: now))
                let ackA = try await kalshi.submit(a)
                _ = try await polymarket.submit(b)
                guard case .cancelled(let cancelled) = try await polymarket.cancel(clientOrderID: b.request.clientOrderID) else {
                    throw BenchError("seed \(index): cancel refused")
                }
                var legB = update(cancelled)
                legB.cancelRequested = true
                legB.cancelResult = .cancelled
                try advance(id, [.imbalanced, .cancelSent], legs: [update(ackA.order), legB], fills: ackA.fills, at: now)
            case .filled:
                let (id, a, b) = try begin(new(index, "KX-FILL", "PM-FILL", at: now))
                let ackA = try await kalshi.submit(a)
                let ackB = try await polymarket.submit(b)
                try advance(id, [.legsAcknowledged, .legsEven], legs: [update(ackA.order), update(ackB.order)],
                            fills: ackA.fills + ackB.fills, at: now)
            }
        }

        func new(_ index: Int, _ instrumentA: String, _ instrumentB: String, at now: Int64) -> NewOpportunity {
            NewOpportunity(
                eventID: "EV-\(index)",
                legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: instrumentA, price: Price(ticks: 4_500)!),
                legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: instrumentB, price: Price(ticks: 5_000)!),
                edgeBps: 300, quantity: Quantity(contracts: 10), expectedFees: .zero, detectedAtMilliseconds: now)
        }

        /// `createAndBegin` with both legs' intents, as `Ledger.begin` does it.
        func begin(_ new: NewOpportunity) throws -> (OpportunityID, PreparedOrder, PreparedOrder) {
            var orders: [LegName: PreparedOrder] = [:]
            let legs: [(LegName, PaperVenue, LegQuote)] = [(.a, kalshi, new.legA), (.b, polymarket, new.legB)]
            let result = try store.createAndBegin(new, reason: "seeded") { id in
                legs.map { leg, venue, quote in
                    let request = OrderRequest(
                        clientOrderID: store.clientOrderID(opportunity: id, leg: leg), instrument: quote.instrument,
                        side: .buy, limitPrice: quote.price, quantity: new.quantity, timeInForce: .gtc)
                    let prepared = venue.prepare(request)
                    orders[leg] = prepared
                    return LegIntent(leg: leg, venue: venue.name, instrument: quote.instrument, side: .buy,
                                     limitPrice: quote.price, quantity: new.quantity, timeInForce: .gtc,
                                     clientOrderID: request.clientOrderID, venueOrderID: prepared.venueOrderID)
                }
            }
            guard case .created(let id) = result, let a = orders[.a], let b = orders[.b] else {
                throw BenchError("seed \(new.eventID): \(result)")
            }
            return (id, a, b)
        }

        func update(_ order: VenueOrder) -> LegUpdate {
            LegUpdate(clientOrderID: order.clientOrderID, status: order.status.legStatus, statusReason: order.reason,
                      venueOrderID: order.venueOrderID)
        }

        func advance(_ id: OpportunityID, _ events: [OpportunityEvent], legs: [LegUpdate], fills: [FillReport],
                     at now: Int64) throws {
            let result = try store.advance(
                id, from: .inFlight, steps: events.map { TransitionStep($0, reason: "seeded") }, at: now,
                changes: TransitionChanges(legUpdates: legs, fills: fills))
            guard result.isApplied else { throw BenchError("seed \(id): \(result)") }
        }
    }
}

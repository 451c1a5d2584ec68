import OrderStateMachine

/// The paper venue (DESIGN §7): a `Venue` that trades against a seeded fill model and keeps its
/// orders and fills in its own SQLite file, so they survive a crash of the trader exactly as a
/// real exchange's would. Recovery and reconcile therefore run against it unchanged.
///
/// What it models, per order, decided once at submit from (seed, client order id) or scripted by
/// a `PaperBehaviour`: a full fill, a partial fill, resting, a refusal, or a lost answer (the
/// order placed, or not); then time in force (IOC kills the remainder, FOK is all or nothing, GTC
/// rests and may fill later); cancel failures; and a latency on every call.
///
/// Fills are at the limit price (the trader is a taker at the ask) and pay `feeModel`'s fee.
///
/// `Sendable` because everything mutable, including the connection, belongs to an actor.
public final class PaperVenue: Venue {
    public let name: String
    public let feeModel: FeeModel
    /// A request can arrive up to one latency after it was sent; once a submit has been answered
    /// (or has thrown), its order is already committed, so "not found" after this long means the
    /// order never arrived.
    public let settleWindowMilliseconds: Int64
    /// Every fill and every status change of a placed order, in the order they were committed:
    /// at submit (the fills, then the order), on cancel, and on a late fill.
    ///
    /// Fills made at submit are pushed here *and* returned in `SubmitAck.fills`: the stream alone
    /// is then a complete record (like a venue's websocket), including the fills of an order whose
    /// submit answer was lost. The executor drops repeats by trade id.
    ///
    /// Buffering is unbounded so no fill is ever dropped: a dropped fill would leave the executor
    /// waiting until its fill timeout. The buffer grows by a few events per order, and the number
    /// of orders is bounded by the trader's risk limits. Finishes when the venue is released.
    public let events: AsyncStream<VenueEvent>
    public let path: String
    public let fillModel: PaperFillModel
    /// `fillModel.seed ^ runSeed`.
    public let seed: UInt64

    /// What a fresh paper account holds: $100,000.
    public static let startingBalance = Money(cents: 10_000_000)

    private let ledger: PaperOrderBook
    private let clock: any TradingClock
    /// Where a submit's work runs when time is real (`PaperVenueThread`); nil under a clock that
    /// supplies its own task executor (the simulator's single thread).
    let submitThread: PaperVenueThread?
    private let continuation: AsyncStream<VenueEvent>.Continuation

    /// Opens (or creates, 0600) the venue's own file at `path`.
    ///
    /// - Throws: `PaperVenueFileError` when `path` is not this venue's paper file (another
    ///   application's, the trader's database, another venue's, or not SQLite at all); the file is
    ///   then left untouched.
    /// - Precondition: the fill model is valid (the config loader checks it): percentages in
    ///   0…100, the five outcome percentages adding up to 100, 0 ≤ latency min ≤ max.
    ///
    /// `feeByInstrument`: instruments whose market charges another fee than `feeModel` (the
    /// config's per-event `fees`), so the paper venue charges what the detector and the unwind
    /// policy expect.
    public init(name: String, path: String, fillModel: PaperFillModel, feeModel: FeeModel, feeByInstrument: [String: FeeModel] = [:],
                runSeed: UInt64, clock: any TradingClock, behaviour: PaperBehaviour? = nil, opening: PaperOpeningScript? = nil) throws {
        let percentages = [fillModel.fullFillPercent, fillModel.partialFillPercent, fillModel.restPercent,
                           fillModel.rejectPercent, fillModel.ambiguousSubmitPercent, fillModel.lateFillPercent,
                           fillModel.cancelFailPercent]
        precondition(percentages.allSatisfy { (0...100).contains($0) }, "paper fill model percentage outside 0...100")
        precondition(percentages.prefix(5).reduce(0, +) == 100, "paper fill model outcome percentages do not add up to 100")
        precondition(0 <= fillModel.latencyMillisecondsMin && fillModel.latencyMillisecondsMin <= fillModel.latencyMillisecondsMax,
                     "paper fill model latency range is invalid")
        precondition(fillModel.lateFillDelayMillisecondsMax >= 0, "paper fill model late fill delay is negative")

        let (events, continuation) = AsyncStream<VenueEvent>.makeStream(bufferingPolicy: .unbounded)
        let seed = fillModel.seed ^ runSeed
        self.ledger = try PaperOrderBook(name: name, path: path, fillModel: fillModel, feeModel: feeModel, feeByInstrument: feeByInstrument, seed: seed,
                                      clock: clock, behaviour: behaviour, opening: opening, continuation: continuation)
        self.name = name
        self.path = path
        self.feeModel = feeModel
        self.fillModel = fillModel
        self.seed = seed
        self.clock = clock
        self.events = events
        self.continuation = continuation
        self.settleWindowMilliseconds = fillModel.latencyMillisecondsMax
        self.submitThread = clock.taskExecutor == nil ? PaperVenueThread(name: name) : nil
    }

    deinit {
        continuation.finish()
        submitThread?.stop()
    }

    /// Replaces the script (nil: everything drawn from the fill model), e.g. to take the venue
    /// down and bring it back in the middle of a test.
    public func setBehaviour(_ behaviour: PaperBehaviour?) async {
        await ledger.setBehaviour(behaviour)
    }

    // MARK: - Venue

    /// The venue order id is a hash of the client order id, computed here before anything is sent
    /// (a stand-in for Polymarket's order hash), so the executor can persist it with its intent.
    public func prepare(_ request: OrderRequest) -> PreparedOrder {
        PreparedOrder(request: request, venueOrderID: Self.venueOrderID(venue: name, clientOrderID: request.clientOrderID))
    }

    /// `<venue>-<16 hex digits>`: FNV-1a of the client order id, mixed by splitmix64. Not
    /// `Hasher`, which is seeded per process: the id must be the same in every process.
    public static func venueOrderID(venue: String, clientOrderID: String) -> String {
        var generator = SeededGenerator.derived(seed: 0, name: clientOrderID)
        let hex = String(generator.next(), radix: 16)
        return "\(venue)-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// - Throws: `.rejected` for a refusal (recorded as a rejected order) or a duplicate client
    ///   order id (nothing recorded); `.ambiguous` when the answer is lost, whether or not the
    ///   order was placed; `.unavailable` when the venue is down.
    public func submit(_ order: PreparedOrder) async throws -> SubmitAck {
        // The submit's latency derives from its client order id, like its fate, so a seeded run
        // replays the same timings whatever order concurrent submits start in.
        var generator = SeededGenerator.derived(seed: seed, name: "\(order.request.clientOrderID)#latency")
        do {
            try await clock.sleep(milliseconds: PaperOrderBook.latency(model: fillModel, generator: &generator))
        } catch {
            // Cancelled in flight: the request never arrived, but a caller cannot know that.
            throw VenueError.ambiguous(reason: "submit cancelled before the venue answered")
        }
        guard let submitThread else { return try await ledger.submit(order) }
        return try await withTaskExecutorPreference(submitThread) { try await ledger.submit(order) }
    }

    public func cancel(clientOrderID: String) async throws -> CancelAnswer {
        try await travel()
        return try await ledger.cancel(clientOrderID: clientOrderID)
    }

    public func order(clientOrderID: String) async throws -> VenueOrder? {
        try await travel()
        return try await ledger.order(clientOrderID: clientOrderID)
    }

    public func fills(clientOrderID: String) async throws -> [FillReport] {
        try await travel()
        return try await ledger.fills(clientOrderID: clientOrderID)
    }

    public func positions() async throws -> [VenuePosition] {
        try await travel()
        return try await ledger.positions()
    }

    public func balance() async throws -> Money {
        try await travel()
        return try await ledger.balance()
    }

    /// The call's latency, on the way in: a call cancelled meanwhile never reaches the venue.
    private func travel() async throws {
        try await clock.sleep(milliseconds: await ledger.nextLatencyMilliseconds())
    }
}

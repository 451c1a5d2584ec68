import ArbEngine
import Foundation
import LoopbackHTTP
import OrderStateMachine
import PolymarketVenue
import Synchronization

/// A Kalshi and a Polymarket on 127.0.0.1 that arb trades through its real adapters and book
/// feeds: the venues' documented REST and websocket subsets, every signature and HMAC checked,
/// orders matched by a paper venue each (seeded fill model, files `loopback-kalshi.db` and
/// `loopback-polymarket.db` with the paper venue's own `paper_orders`, so every audit tool and
/// DESIGN §8's check read them), books that move like the demo generator's, and injectable
/// faults (`LoopbackFaults`). `arb-exchange` serves one standalone; `arb run --demo loopback`
/// starts one in-process.
///
/// At start it makes fresh accounts (`LoopbackAccounts`) and writes `loopback-config.json`, a
/// trader config for trading it, beside its files.
public final class LoopbackExchange: Sendable {
    public struct Options: Sendable {
        public var seed: UInt64
        public var directory: String
        public var faults: LoopbackFaults
        /// 0: a port the kernel picks.
        public var kalshiPort: Int
        public var polymarketPort: Int
        /// Milliseconds between two moves of the books.
        public var moveIntervalMilliseconds: Int64
        /// False: the books never move by themselves; only `setBook` moves them (arb-bench).
        public var movesBooks = true
        /// Both paper venues' fill model; nil: the demo's mix (`fillModel(seed:)`).
        public var fillModel: PaperFillModel?
        /// How long a Polymarket trade stays MATCHED before it is CONFIRMED.
        public var polymarketConfirmAfterMilliseconds: Int64 = 300
        /// Hears every REST request on the event loop the moment its last byte is read, before it
        /// is answered: (venue, method, URI). arb-bench's "request fully received" instant.
        public var requestReceived: (@Sendable (_ venue: String, _ method: String, _ uri: String) -> Void)?

        public init(seed: UInt64, directory: String, faults: LoopbackFaults = LoopbackFaults(), kalshiPort: Int = 0,
                    polymarketPort: Int = 0, moveIntervalMilliseconds: Int64 = 5) {
            self.seed = seed
            self.directory = directory
            self.faults = faults
            self.kalshiPort = kalshiPort
            self.polymarketPort = polymarketPort
            self.moveIntervalMilliseconds = moveIntervalMilliseconds
        }
    }

    /// The events both venues list: (event id, Kalshi ticker).
    static let events: [(id: String, ticker: String)] = [
        ("FED-DEC-CUT", "KXFEDCUT-26DEC"), ("CPI-NOV-ABOVE-3", "KXCPI-26NOV-T3"),
        ("BTC-100K-DEC31", "KXBTC-26DEC31-100K"), ("SENATE-2026-CONTROL", "KXSENATE-26-D"),
    ]
    static let polymarketFeeRateBps: Int64 = 300

    public let options: Options
    public let accounts: LoopbackAccounts
    public let counters: LoopbackCounters
    public let kalshiBaseURL: String
    public let kalshiWebSocketURL: String
    public let polymarketBaseURL: String
    public let polymarketWebSocketURL: String
    /// `loopback-config.json`: a trader config for this exchange.
    public let configPath: String
    public let kalshiFile: String
    public let polymarketFile: String
    private let servers: [LoopbackServer]
    private let tasks: [Task<Void, Never>]
    private let setBookBody: @Sendable (Quote) -> Void
    private let inFlight: InFlight

    final class InFlight: Sendable {
        let count = Atomic(0)
    }

    /// REST requests read and not yet answered, both venues (arb-bench waits for 0 between
    /// iterations, so one iteration's follow-up reads do not run into the next one's path).
    public var requestsInFlight: Int { inFlight.count.load(ordering: .relaxed) }

    private init(options: Options, accounts: LoopbackAccounts, counters: LoopbackCounters, kalshi: LoopbackServer,
                 polymarket: LoopbackServer, configPath: String, kalshiFile: String, polymarketFile: String, tasks: [Task<Void, Never>],
                 inFlight: InFlight, setBook: @escaping @Sendable (Quote) -> Void) {
        self.options = options
        self.accounts = accounts
        self.counters = counters
        kalshiBaseURL = "http://127.0.0.1:\(kalshi.port)\(LoopbackKalshi.rootPath)"
        kalshiWebSocketURL = "ws://127.0.0.1:\(kalshi.port)\(LoopbackKalshi.websocketPath)"
        polymarketBaseURL = "http://127.0.0.1:\(polymarket.port)"
        polymarketWebSocketURL = "ws://127.0.0.1:\(polymarket.port)"
        self.configPath = configPath
        self.kalshiFile = kalshiFile
        self.polymarketFile = polymarketFile
        servers = [kalshi, polymarket]
        self.tasks = tasks
        setBookBody = setBook
        self.inFlight = inFlight
    }

    /// The paper venues' files by venue name, for `Invariants.check`.
    public var paperFiles: [String: String] { ["kalshi": kalshiFile, "polymarket": polymarketFile] }

    /// The two base URLs, as `arb-exchange` prints them first.
    public var banner: String { "kalshi \(kalshiBaseURL) polymarket \(polymarketBaseURL)" }

    public static func start(_ options: Options) async throws -> LoopbackExchange {
        let directory = options.directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let accounts = try LoopbackAccounts.generate(directory: directory)
        let counters = LoopbackCounters()
        let clock = SystemClock()
        let kalshiFile = (directory as NSString).appendingPathComponent("loopback-kalshi.db")
        let polymarketFile = (directory as NSString).appendingPathComponent("loopback-polymarket.db")
        let kalshiVenue = try PaperVenue(name: "kalshi", path: kalshiFile, fillModel: options.fillModel ?? fillModel(seed: 1_001), feeModel: .kalshiTaker,
                                         runSeed: options.seed, clock: clock)
        let polymarketFee = FeeModel.polymarketTaker(rateBps: polymarketFeeRateBps, exponent: 1)
        let polymarketVenue = try PaperVenue(name: "polymarket", path: polymarketFile, fillModel: options.fillModel ?? fillModel(seed: 2_002),
                                             feeModel: polymarketFee, runSeed: options.seed, clock: clock)
        let kalshi = LoopbackKalshi(ledger: try LoopbackLedger(venue: kalshiVenue, counters: counters), key: accounts.kalshiKey, faults: options.faults,
                                    seed: options.seed, counters: counters)
        let markets = events.indices.map { index in
            LoopbackPolymarket.Market(conditionID: conditionID(index), tokens: tokens(index), negRisk: false, tick: "0.001",
                                      feeRateBps: polymarketFeeRateBps)
        }
        let polymarket = LoopbackPolymarket(ledger: try LoopbackLedger(venue: polymarketVenue, counters: counters), wallet: accounts.wallet.address,
                                            credentials: accounts.credentials, markets: markets, faults: options.faults,
                                            seed: options.seed, counters: counters,
                                            confirmAfterMilliseconds: options.polymarketConfirmAfterMilliseconds)
        let hook = options.requestReceived
        let inFlight = InFlight()
        func received(_ venue: String) -> @Sendable (String, String) -> Void {
            { @Sendable method, uri in
                inFlight.count.add(1, ordering: .relaxed)
                hook?(venue, method, uri)
            }
        }
        let kalshiServer = try await LoopbackServer.start(
            port: options.kalshiPort,
            websocket: LoopbackWebSocketRoutes(accept: { path, headers in kalshi.accepts(path: path, headers: headers) },
                                               connected: { kalshi.connected($0) }, text: { kalshi.received($0, $1) }),
            received: received("kalshi"),
            http: { request in
                defer { inFlight.count.subtract(1, ordering: .relaxed) }
                return await kalshi.answer(request)
            })
        let polymarketServer: LoopbackServer
        do {
            polymarketServer = try await LoopbackServer.start(
                port: options.polymarketPort,
                websocket: LoopbackWebSocketRoutes(accept: { path, _ in polymarket.accepts(path: path) },
                                                   connected: { polymarket.connected($0) }, text: { polymarket.received($0, $1) }),
                received: received("polymarket"),
                http: { request in
                    defer { inFlight.count.subtract(1, ordering: .relaxed) }
                    return await polymarket.answer(request)
                })
        } catch {
            await kalshiServer.stop()
            throw error
        }
        let configPath = (directory as NSString).appendingPathComponent("loopback-config.json")
        let configText = traderConfigJSON(accounts: accounts, kalshiPort: kalshiServer.port, polymarketPort: polymarketServer.port)
        let config: TraderConfig
        do {
            try configText.write(toFile: configPath, atomically: true, encoding: .utf8)
            config = try TraderConfig.decode(json: configText, source: configPath)
        } catch {
            await kalshiServer.stop()
            await polymarketServer.stop()
            throw error
        }
        let interval = options.moveIntervalMilliseconds
        let mover = Task {
            var generator = DemoQuoteGenerator(config: config, seed: options.seed)
            while options.movesBooks, !Task.isCancelled {
                let quote = generator.next(nowMilliseconds: clock.nowMilliseconds())
                if quote.venue == "kalshi" { kalshi.quote(quote) } else { polymarket.quote(quote) }
                try? await Task.sleep(for: .milliseconds(interval))
            }
        }
        let kalshiFills = Task {
            for await event in kalshiVenue.events {
                switch event {
                case .fill(let fill): kalshi.pushFill(fill)
                case .orderUpdate(let order): kalshi.pushOrder(order)
                }
            }
        }
        let polymarketFills = Task {
            for await event in polymarketVenue.events {
                if case .fill(let fill) = event { await polymarket.pushFill(fill) }
            }
        }
        return LoopbackExchange(options: options, accounts: accounts, counters: counters, kalshi: kalshiServer,
                                polymarket: polymarketServer, configPath: configPath, kalshiFile: kalshiFile,
                                polymarketFile: polymarketFile, tasks: [mover, kalshiFills, polymarketFills], inFlight: inFlight,
                                setBook: { quote in
                                    if quote.venue == "kalshi" { kalshi.quote(quote) } else { polymarket.quote(quote) }
                                })
    }

    /// Moves one book as the mover would: `quote` (an instrument of the trader config's events,
    /// venue `kalshi` or `polymarket`) becomes its book's level, and every subscriber gets the
    /// change at once: before this returns the message is built and handed to each subscriber's
    /// channel (`writeAndFlush`), whose event loop writes it to the socket.
    public func setBook(_ quote: Quote) { setBookBody(quote) }

    public func stop() async {
        for task in tasks { task.cancel() }
        for server in servers { await server.stop() }
    }

    /// The demo's mix of outcomes (full, partial and no fills, refusals, lost answers, late fills,
    /// failed cancels), with the latency of a nearby venue.
    static func fillModel(seed: UInt64) -> PaperFillModel {
        PaperFillModel(fullFillPercent: 66, partialFillPercent: 12, restPercent: 12, rejectPercent: 6, ambiguousSubmitPercent: 4,
                       lateFillPercent: 40, cancelFailPercent: 15, latencyMillisecondsMin: 1, latencyMillisecondsMax: 4,
                       lateFillDelayMillisecondsMax: 150, seed: seed)
    }

    static func conditionID(_ index: Int) -> String { "0x" + String(format: "%064x", 0x10AD + index) }

    /// The event's YES and NO token ids.
    static func tokens(_ index: Int) -> [String] { ["7100\(index + 1)001", "7100\(index + 1)002"] }

    /// A trader config for this exchange: the two venues with their URLs and key files, the
    /// events with both venues' instruments, and the demo's detection, execution and risk.
    static func traderConfigJSON(accounts: LoopbackAccounts, kalshiPort: Int, polymarketPort: Int) -> String {
        let events = Self.events.enumerated().map { index, event in
            let tokens = tokens(index)
            return """
                    {
                      "event_id": "\(event.id)",
                      "outcomes": ["YES", "NO"],
                      "instruments": {
                        "kalshi": {"YES": "\(event.ticker):yes", "NO": "\(event.ticker):no"},
                        "polymarket": {"YES": "\(tokens[0])", "NO": "\(tokens[1])"}
                      },
                      "markets": {"polymarket": {"condition_id": "\(conditionID(index))", "tick_size": "0.001", "neg_risk": false}},
                      "rules_checked_by": "loopback exchange",
                      "rules_checked_at": "2026-12-04"
                    }
            """
        }.joined(separator: ",\n")
        return """
            {
              "durability": "full",
              "events": [
            \(events)
              ],
              "venues": {
                "kalshi": {
                  "kind": "kalshi",
                  "environment": "demo",
                  "fee": "kalshi_taker",
                  "base_url": "http://127.0.0.1:\(kalshiPort)\(LoopbackKalshi.rootPath)",
                  "ws_url": "ws://127.0.0.1:\(kalshiPort)\(LoopbackKalshi.websocketPath)",
                  "key_id": "\(accounts.kalshiKeyID)",
                  "private_key_file": \(JSONText.quoted(accounts.kalshiKeyFile))
                },
                "polymarket": {
                  "kind": "polymarket",
                  "signature_type": "eoa",
                  "fee": {"polymarket_taker": {"rate_bps": \(polymarketFeeRateBps), "exponent": 1}},
                  "base_url": "http://127.0.0.1:\(polymarketPort)",
                  "ws_url": "ws://127.0.0.1:\(polymarketPort)",
                  "book_silence_ms": 1000,
                  "private_key_file": \(JSONText.quoted(accounts.walletKeyFile)),
                  "credentials_file": \(JSONText.quoted(accounts.credentialsFile))
                }
              },
              "detection": {"min_edge_bps": 50, "min_size": "1", "max_size": "25", "quote_staleness_ms": 1000},
              "execution": {"time_in_force": "gtc", "fill_timeout_ms": 300},
              "risk": {
                "max_exposure_per_event_usd": "500.00",
                "max_exposure_total_usd": "2000.00",
                "max_one_sided_per_day": 1000,
                "cooldown_ms": 300,
                "one_sided_cooldown_ms": 1500
              },
              "alerts": {"console": false}
            }

            """
    }
}

import Foundation
import KalshiVenue
import PolymarketVenue
import Logging
import OrderStateMachine

/// `arbadmin venues check` and `arbadmin venues cancel-all`.
public enum AdminVenues {
    /// One configured venue's answer to the check.
    public struct Check: Sendable {
        public var venue: String
        public var kind: VenueKind
        /// `demo` / `prod`, and the REST root, for a real venue.
        public var environment: String?
        public var baseURL: String?
        public var balance: Money?
        /// The venue's clock minus ours, in whole seconds (the `Date` header has no finer grain).
        public var skewSeconds: Int64?
        /// What is wrong, in one line; nil when the venue answered.
        public var problem: String?
        public var ok: Bool { problem == nil }
    }

    /// The largest clock difference the check accepts before saying so (signatures carry a
    /// timestamp the venue compares with its own clock).
    public static let skewWarningSeconds: Int64 = 5

    /// For each configured real venue: an authenticated read (the balance) and the clock skew
    /// against the venue's `Date` header (and for Polymarket, that the CLOB speaks version 2). Paper venues need no check.
    public static func check(_ context: AdminContext, environment: [String: String],
                             clock: any TradingClock = SystemClock()) async -> [Check] {
        var checks: [Check] = []
        let logger = Logger(label: "arbadmin.venues", factory: { _ in SwiftLogNoOpLogHandler() })
        for name in context.config.venues.keys.sorted() {
            guard let config = context.config.venues[name] else { continue }
            var check = Check(venue: name, kind: config.kind)
            switch config.settings {
            case .paper:
                break
            case .polymarket(let settings):
                check.baseURL = settings.baseURL
                do {
                    let venue = try PolymarketVenueFactory.make(name: name, settings: settings, fee: config.fee, config: context.config,
                                                                environment: environment, ledger: nil, clock: clock, logger: logger)
                    let answer = try await venue.check()
                    check.balance = answer.balance
                    check.skewSeconds = skew(answer.venueDate, clock: clock)
                    if answer.version != 2 {
                        check.problem = "the CLOB answers version \(answer.version.map(String.init) ?? "none"), not 2: "
                            + "this build signs CLOB V2 orders only"
                    } else if let skew = check.skewSeconds, abs(skew) > skewWarningSeconds {
                        check.problem = skewProblem(skew)
                    } else if let shortfall = fundsShortfall(balance: answer.balance, allowance: answer.allowance,
                                                             maxSize: context.config.detection.maxSize) {
                        check.problem = shortfall
                    }
                } catch let error as PolymarketVenueUnusable {
                    check.problem = error.description
                } catch VenueError.rejected(let reason) {
                    check.problem = reason + " — are POLY_API_KEY / POLY_API_SECRET / POLY_PASSPHRASE this wallet's?"
                } catch VenueError.unavailable(let reason) {
                    check.problem = "unreachable: \(reason)"
                } catch {
                    check.problem = "\(error)"
                }
            case .kalshi(let settings):
                check.environment = settings.environment.rawValue
                check.baseURL = settings.baseURL
                do {
                    let venue = try KalshiVenueFactory.make(name: name, settings: settings, fee: config.fee, config: context.config,
                                                            environment: environment, ledger: nil, clock: clock, logger: logger)
                    let answer = try await venue.check()
                    check.balance = answer.balance
                    check.skewSeconds = skew(answer.venueDate, clock: clock)
                    if let skew = check.skewSeconds, abs(skew) > skewWarningSeconds { check.problem = skewProblem(skew) }
                } catch let error as KalshiVenueUnusable {
                    check.problem = error.description
                } catch VenueError.rejected(let reason) {
                    check.problem = reason + " — is key_id a \(settings.environment.rawValue) key, and private_key_file its pair?"
                } catch VenueError.unavailable(let reason) {
                    check.problem = "unreachable: \(reason)"
                } catch {
                    check.problem = "\(error)"
                }
            }
            checks.append(check)
        }
        return checks
    }

    public static func text(_ checks: [Check]) -> [String] {
        checks.map { check in
            let head = check.venue + " (" + ([check.kind.rawValue, check.environment, check.baseURL].compactMap { $0 })
                .joined(separator: ", ") + ")"
            if check.kind == .paper { return head + ": paper venue, nothing to check" }
            if let problem = check.problem { return head + ": FAILED — " + problem }
            var parts = ["ok"]
            if let balance = check.balance { parts.append("balance $" + balance.decimalString) }
            if let skew = check.skewSeconds { parts.append("clock skew \(skew >= 0 ? "+" : "")\(skew) s") }
            return head + ": " + parts.joined(separator: ", ")
        }
    }

    public static func json(_ checks: [Check]) -> String {
        JSONValue.array(checks.map { check in
            var members: [JSONMember] = [
                JSONMember(key: "venue", value: .string(check.venue)), JSONMember(key: "kind", value: .string(check.kind.rawValue)),
                JSONMember(key: "ok", value: .bool(check.ok)),
            ]
            if let environment = check.environment { members.append(JSONMember(key: "environment", value: .string(environment))) }
            if let baseURL = check.baseURL { members.append(JSONMember(key: "base_url", value: .string(baseURL))) }
            if let balance = check.balance { members.append(JSONMember(key: "balance_usd", value: .string(balance.decimalString))) }
            if let skew = check.skewSeconds { members.append(JSONMember(key: "clock_skew_seconds", value: .number(String(skew)))) }
            if let problem = check.problem { members.append(JSONMember(key: "problem", value: .string(problem))) }
            return .object(members)
        }).compactText
    }

    /// The venue's clock minus ours, from its `Date` header, in seconds.
    static func skew(_ date: String?, clock: any TradingClock) -> Int64? {
        guard let date, let venueSeconds = httpDateSeconds(date) else { return nil }
        return venueSeconds - clock.nowMilliseconds() / 1_000
    }

    /// A buy of `maxSize` contracts costs up to $1 each: the collateral balance and the exchange
    /// allowance must both cover it, or the venue refuses orders arb's detector will send.
    static func fundsShortfall(balance: Money, allowance: Money?, maxSize: Quantity) -> String? {
        let need = Money(price: Price(uncheckedTicks: Price.ticksPerDollar - 1), quantity: maxSize)
        if balance < need {
            return "the balance $\(balance.decimalString) cannot pay for detection.max_size (\(maxSize) contracts, up to $\(need.decimalString)); "
                + "deposit, or lower max_size"
        }
        if let allowance, allowance < need {
            return "the exchange allowance $\(allowance.decimalString) is below detection.max_size's cost (up to $\(need.decimalString)); "
                + "approve the CTF exchange for more (Polymarket's web app does this on the first trade)"
        }
        return nil
    }

    static func skewProblem(_ skew: Int64) -> String {
        "this machine's clock is \(abs(skew)) s \(skew > 0 ? "behind" : "ahead of") the venue's: signed requests may be refused "
            + "— fix the clock (NTP)"
    }

    /// `Date: Wed, 02 Dec 2026 10:15:30 GMT` as Unix seconds.
    static func httpDateSeconds(_ text: String) -> Int64? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970) }
    }
}

extension AdminVenues {
    /// One live order and what its cancel did.
    public struct Cancel: Sendable {
        public var opportunityID: OpportunityID
        public var venue: String
        public var clientOrderID: String
        public var outcome: String
        public var tookEffect: Bool
    }

    /// `cancel-all`: every order the database knows to be live (a leg not final, of an
    /// opportunity not closed) at `venue` (nil: every venue) is cancelled at its venue by its
    /// order id, then the cancels are recorded by recovery (the same `Reconciler` as `arb run`'s
    /// start), which moves each opportunity to what the venues' truth implies. The cancels go
    /// first, before any lease: a person who wants out gets out even while a trader runs (that
    /// trader then sees its orders cancelled, as after any venue-side cancel).
    public static func cancelAll(_ context: AdminContext, venue only: String?, force: Bool, environment: [String: String],
                                 clock: any TradingClock = SystemClock()) async throws -> (cancels: [Cancel], reconcile: AdminReconcile.Result?, recordError: String?) {
        if let only, context.config.venues[only] == nil {
            throw AdminFailure("no venue \(MessageText.quoted(only)) in the config; allowed "
                + context.config.venues.keys.sorted().joined(separator: ", "), exitCode: .usage)
        }
        let store = try context.openReadOnly()
        let ledger = Ledger(store: store)
        let live = try await ledger.withStore { store in
            try store.nonTerminalOpportunities().flatMap { try store.legs(of: $0.id) }
                .filter { !$0.status.isFinal && (only == nil || $0.venue == only) }
        }
        guard !live.isEmpty else { return ([], nil, nil) }
        let venues: [String: any Venue]
        do {
            venues = try Trader.makeVenues(context.config, runSeed: 0, clock: clock, environment: environment,
                                           ledger: LedgerSlot(ledger))
        } catch {
            throw AdminFailure("cannot open the venues: \(error); nothing was cancelled")
        }
        var cancels: [Cancel] = []
        for leg in live {
            var cancel = Cancel(opportunityID: leg.opportunityID, venue: leg.venue, clientOrderID: leg.clientOrderID,
                                outcome: "", tookEffect: false)
            guard let venue = venues[leg.venue] else {
                cancel.outcome = "venue \(leg.venue) is not in the config: cancel it there by hand"
                cancels.append(cancel)
                continue
            }
            do {
                switch try await venue.cancel(clientOrderID: leg.clientOrderID) {
                case .cancelled(let order):
                    cancel.outcome = "cancelled (filled \(order.filledQuantity) of \(order.quantity))"
                    cancel.tookEffect = true
                case .alreadyDone(let order):
                    cancel.outcome = "already \(order.status.rawValue) (filled \(order.filledQuantity) of \(order.quantity))"
                    cancel.tookEffect = true
                case .failed(let reason):
                    cancel.outcome = "NOT cancelled: \(reason)"
                }
            } catch VenueError.unknownOrder {
                cancel.outcome = "not at the venue (never placed)"
                cancel.tookEffect = true
            } catch {
                cancel.outcome = "NOT cancelled: \(error)"
            }
            cancels.append(cancel)
        }
        do {
            let result = try await AdminReconcile.run(context, dryRun: false, force: force, environment: environment, clock: clock)
            return (cancels, result, nil)
        } catch let failure as AdminFailure {
            return (cancels, nil, failure.message)
        }
    }

    public static func cancelText(_ result: (cancels: [Cancel], reconcile: AdminReconcile.Result?, recordError: String?)) -> [String] {
        guard !result.cancels.isEmpty else { return ["no live orders in the database: nothing to cancel"] }
        var lines = result.cancels.map { "opportunity \($0.opportunityID) \($0.venue) \($0.clientOrderID): \($0.outcome)" }
        if let reconcile = result.reconcile {
            lines.append("recorded by recovery:")
            lines += AdminReconcile.text(reconcile).map { "  " + $0 }
        } else if let error = result.recordError {
            lines.append("the cancels were sent but not recorded here: \(error)")
        }
        return lines
    }
}

extension AdminVenues {
    /// `venues setup polymarket`: creates (or derives) the wallet's API credentials with its L1
    /// signature and stores them in a 0600 JSON file — `out`, else the venue's `credentials_file`.
    /// Returns the API key id and the file; the secret and passphrase are never printed.
    public static func setupPolymarket(_ context: AdminContext, venue only: String?, out: String?, replace: Bool,
                                       environment: [String: String],
                                       clock: any TradingClock = SystemClock()) async throws -> (apiKey: String, path: String) {
        let candidates = context.config.venues.filter { $0.value.kind == .polymarket }.map(\.key).sorted()
        guard let name = only ?? candidates.first else {
            throw AdminFailure("the config has no polymarket venue", exitCode: .usage)
        }
        guard case .polymarket(let settings)? = context.config.venues[name]?.settings else {
            throw AdminFailure("venues.\(name) is not a polymarket venue; allowed \(candidates.joined(separator: ", "))", exitCode: .usage)
        }
        guard let path = out ?? settings.credentialsFile else {
            throw AdminFailure("where to store the credentials: give --out PATH, or set venues.\(name).credentials_file", exitCode: .usage)
        }
        if FileManager.default.fileExists(atPath: path) && !replace {
            throw AdminFailure("\(path) exists; --replace to write over it (the credentials it holds stop being used)")
        }
        let key: EthereumKey
        do { key = try PolymarketVenueFactory.walletKey(name: name, settings: settings, environment: environment) } catch {
            throw AdminFailure(error.description, exitCode: .usage)
        }
        let credentials: PolymarketCredentials
        do {
            credentials = try await PolymarketL1.credentials(baseURL: settings.baseURL, key: key, clock: clock)
        } catch {
            throw AdminFailure("Polymarket did not give API credentials: \(error); nothing was written")
        }
        let json = "{\"api_key\":" + JSONText.quoted(credentials.apiKey) + ",\"secret\":" + JSONText.quoted(credentials.secret)
            + ",\"passphrase\":" + JSONText.quoted(credentials.passphrase) + "}\n"
        try writePrivateFile(path, Array(json.utf8))
        return (credentials.apiKey, path)
    }

    /// Writes `bytes` to `path` readable by its owner only (0600), whole or not at all: a temporary
    /// file beside it, synced, then renamed over it.
    static func writePrivateFile(_ path: String, _ bytes: [UInt8]) throws {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw AdminFailure("cannot create \(temporary): \(SmallFile.errorText(errno)); nothing was written")
        }
        var written = 0
        var failure: String?
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failure = SmallFile.errorText(errno)
                break
            }
            written += count
        }
        if failure == nil, fsync(descriptor) != 0 { failure = SmallFile.errorText(errno) }
        close(descriptor)
        if failure == nil, rename(temporary, path) != 0 { failure = SmallFile.errorText(errno) }
        if let failure {
            unlink(temporary)
            throw AdminFailure("cannot write \(path): \(failure); nothing was written")
        }
    }
}

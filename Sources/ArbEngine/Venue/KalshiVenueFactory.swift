import KalshiVenue
import Logging
import OrderStateMachine
import Synchronization

/// Opens a `kind: "kalshi"` venue from its config: the key id and key file from the config or
/// the environment (`KALSHI_API_KEY_ID`, `KALSHI_PRIVATE_KEY_FILE`), the key file refused unless
/// only its owner can read it, and the trader database as the adapter's directory of orders a
/// previous process sent.
enum KalshiVenueFactory {
    static let keyIDVariable = "KALSHI_API_KEY_ID"
    static let keyFileVariable = "KALSHI_PRIVATE_KEY_FILE"

    static func make(name: String, settings: KalshiVenueSettings, fee: FeeModel, config: TraderConfig,
                     environment: [String: String], ledger: LedgerSlot?, clock: any TradingClock,
                     logger: Logger) throws(KalshiVenueUnusable) -> KalshiVenue {
        let where_ = "venues.\(name)"
        guard let keyID = settings.keyID ?? environment[keyIDVariable].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw KalshiVenueUnusable(description: "\(where_) has no API key id: set key_id in the config or \(keyIDVariable) "
                + "in the environment (a \(settings.environment.rawValue) key)")
        }
        guard let keyFile = settings.privateKeyFile ?? environment[keyFileVariable].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw KalshiVenueUnusable(description: "\(where_) has no private key file: set private_key_file in the config or "
                + "\(keyFileVariable) in the environment")
        }
        let key: KalshiSigningKey
        do { key = try KalshiSigningKey.load(path: keyFile) } catch {
            throw KalshiVenueUnusable(description: "\(where_): \(error.description)")
        }
        var options = KalshiVenue.Options(name: name, environment: settings.environment.rawValue, baseURL: settings.baseURL,
                                          selfTradePrevention: settings.selfTradePrevention.rawValue, feeModel: fee)
        // 429s are retried within the fill timeout, then the create's answer counts as lost.
        options.rateLimitBudgetMilliseconds = config.execution.fillTimeoutMilliseconds
        options.websocketURL = settings.websocketURL
        return KalshiVenue(options: options, signer: KalshiSigner(keyID: keyID, key: key),
                           directory: ledger.map { LedgerKalshiDirectory(slot: $0) }, clock: clock,
                           logger: logger)
    }
}

/// Why a Kalshi venue cannot be opened: one line naming the field or variable and what to do.
public struct KalshiVenueUnusable: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// A ledger that exists once the trader is assembled: venues are opened before the ledger takes
/// the store, and read through it only after.
public final class LedgerSlot: Sendable {
    private let ledger = Mutex<Ledger?>(nil)

    public init(_ ledger: Ledger? = nil) { self.ledger.withLock { $0 = ledger } }

    func fill(_ value: Ledger) { ledger.withLock { $0 = value } }

    var value: Ledger? { ledger.withLock { $0 } }
}

/// The adapter's directory of orders: the leg row (its request and any venue order id) and the
/// opportunity's creation time (the listing of a lost create starts before it), or an unwind
/// order's row and its creation time.
public struct LedgerKalshiDirectory: KalshiOrderDirectory {
    let slot: LedgerSlot

    public init(slot: LedgerSlot) { self.slot = slot }

    public func knownOrder(clientOrderID: String) async throws -> KalshiKnownOrder? {
        guard let ledger = slot.value else { return nil }
        return try await ledger.withStore { store -> KalshiKnownOrder? in
            guard let leg = try store.leg(clientOrderID: clientOrderID) else {
                // Not a leg: an unwind order (`arb-<db>-<id>-u<n>`), sent when its row was written.
                return try store.unwindOrder(clientOrderID: clientOrderID).map {
                    KalshiKnownOrder(request: $0.intent.request, venueOrderID: $0.intent.venueOrderID,
                                     sentAtMilliseconds: $0.createdAtMilliseconds)
                }
            }
            let createdAt = try store.opportunity(leg.opportunityID)?.createdAtMilliseconds ?? leg.updatedAtMilliseconds
            return KalshiKnownOrder(
                request: OrderRequest(clientOrderID: leg.clientOrderID, instrument: leg.instrument, side: leg.side,
                                      limitPrice: leg.limitPrice, quantity: leg.quantity, timeInForce: leg.timeInForce),
                venueOrderID: leg.venueOrderID, sentAtMilliseconds: createdAt)
        }
    }
}

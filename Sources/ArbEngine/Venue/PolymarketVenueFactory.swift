import Foundation
import Logging
import OrderStateMachine
import PolymarketVenue

/// Opens a `kind: "polymarket"` venue: the wallet key from `POLY_PRIVATE_KEY`, or a 0600 file
/// (`private_key_file`, `POLY_PRIVATE_KEY_FILE`) — never the config itself, never argv; the API
/// credentials from `POLY_API_KEY` / `POLY_API_SECRET` / `POLY_PASSPHRASE` or the 0600
/// `credentials_file`; each configured event's market (tick size, neg risk) for its tokens.
enum PolymarketVenueFactory {
    static let keyVariable = "POLY_PRIVATE_KEY"
    static let keyFileVariable = "POLY_PRIVATE_KEY_FILE"
    static let credentialVariables = ("POLY_API_KEY", "POLY_API_SECRET", "POLY_PASSPHRASE")

    static func make(name: String, settings: PolymarketVenueSettings, fee: FeeModel, config: TraderConfig,
                     environment: [String: String], ledger: LedgerSlot?, clock: any TradingClock,
                     logger: Logger) throws(PolymarketVenueUnusable) -> PolymarketVenue {
        let key = try walletKey(name: name, settings: settings, environment: environment)
        let credentials = try self.credentials(name: name, settings: settings, environment: environment)
        var markets: [String: PolymarketTokenMarket] = [:]
        for (index, event) in config.events.enumerated() {
            guard let market = event.markets[name], let tokens = event.instruments[name] else { continue }
            for token in tokens.values {
                markets[token] = PolymarketTokenMarket(tick: market.tickSize, negRisk: market.negRisk, conditionID: market.conditionID,
                                                       fee: config.feeModel(event: event, venue: name),
                                                       configPath: "events[\(index)].markets.\(name)")
            }
        }
        var options = PolymarketVenue.Options(name: name, baseURL: settings.baseURL, feeModel: fee,
                                              signatureType: settings.signatureTypeNumber, funder: settings.funder, markets: markets)
        options.rateLimitBudgetMilliseconds = config.execution.fillTimeoutMilliseconds
        options.websocketURL = settings.marketChannelURL
        options.bookSilenceMilliseconds = settings.bookSilenceMilliseconds
        do {
            return try PolymarketVenue(options: options, key: key, credentials: credentials,
                                       directory: ledger.map { LedgerPolymarketDirectory(slot: $0) }, clock: clock, logger: logger)
        } catch {
            throw PolymarketVenueUnusable(description: "venues.\(name): \(error.description)")
        }
    }

    static func walletKey(name: String, settings: PolymarketVenueSettings,
                          environment: [String: String]) throws(PolymarketVenueUnusable) -> EthereumKey {
        let text: String
        let source: String
        if let inline = environment[keyVariable], !inline.isEmpty {
            text = inline
            source = keyVariable
        } else if let path = settings.privateKeyFile ?? environment[keyFileVariable].flatMap({ $0.isEmpty ? nil : $0 }) {
            do {
                let bytes = try SmallFile.contents(path: path, limit: 4_096, noun: "wallet key file", secret: true)
                text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw PolymarketVenueUnusable(description: "venues.\(name): the wallet key file \(path) \(error.detail)")
            }
            source = "the wallet key file \(path)"
        } else {
            throw PolymarketVenueUnusable(description: "venues.\(name) has no wallet key: set \(keyVariable) in the environment, "
                + "or private_key_file in the config (or \(keyFileVariable)) naming a 0600 file")
        }
        do { return try EthereumKey(hex: text) } catch {
            throw PolymarketVenueUnusable(description: "venues.\(name): \(source) \(error.description)")
        }
    }

    static func credentials(name: String, settings: PolymarketVenueSettings,
                            environment: [String: String]) throws(PolymarketVenueUnusable) -> PolymarketCredentials {
        let (keyName, secretName, passphraseName) = credentialVariables
        if let apiKey = environment[keyName], let secret = environment[secretName], let passphrase = environment[passphraseName],
           !apiKey.isEmpty, !secret.isEmpty, !passphrase.isEmpty {
            return PolymarketCredentials(apiKey: apiKey, secret: secret, passphrase: passphrase)
        }
        guard let path = settings.credentialsFile else {
            throw PolymarketVenueUnusable(description: "venues.\(name) has no API credentials: set \(keyName), \(secretName) and "
                + "\(passphraseName), or credentials_file in the config (arbadmin venues setup polymarket writes one)")
        }
        do {
            let bytes = try SmallFile.contents(path: path, limit: 4_096, noun: "credentials file", secret: true)
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
                  let apiKey = object["api_key"] as? String, let secret = object["secret"] as? String,
                  let passphrase = object["passphrase"] as? String, !apiKey.isEmpty, !secret.isEmpty, !passphrase.isEmpty
            else {
                throw PolymarketVenueUnusable(description: "venues.\(name): the credentials file \(path) is not "
                    + "{\"api_key\", \"secret\", \"passphrase\"}; write it again with arbadmin venues setup polymarket")
            }
            return PolymarketCredentials(apiKey: apiKey, secret: secret, passphrase: passphrase)
        } catch let refusal as SmallFileRefusal {
            throw PolymarketVenueUnusable(description: "venues.\(name): the credentials file \(path) \(refusal.detail)")
        } catch let error as PolymarketVenueUnusable {
            throw error
        } catch {
            throw PolymarketVenueUnusable(description: "venues.\(name): the credentials file \(path): \(error)")
        }
    }
}

/// Why a Polymarket venue cannot be opened: one line naming the field or variable and what to do.
public struct PolymarketVenueUnusable: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The adapter's directory: the leg row's request, the order hash persisted with the intent, and
/// the opportunity's creation time (its trades are read from a little before it); or an unwind
/// order's row, hash and creation time.
public struct LedgerPolymarketDirectory: PolymarketOrderDirectory {
    let slot: LedgerSlot

    public init(slot: LedgerSlot) { self.slot = slot }

    public func knownOrder(clientOrderID: String) async throws
        -> (request: OrderRequest, orderHash: String?, placedAtMilliseconds: Int64?)? {
        guard let ledger = slot.value else { return nil }
        return try await ledger.withStore { store -> (request: OrderRequest, orderHash: String?, placedAtMilliseconds: Int64?)? in
            guard let leg = try store.leg(clientOrderID: clientOrderID) else {
                // Not a leg: an unwind order (`arb-<db>-<id>-u<n>`), its hash persisted with it.
                return try store.unwindOrder(clientOrderID: clientOrderID).map {
                    ($0.intent.request, $0.intent.venueOrderID, $0.createdAtMilliseconds)
                }
            }
            return (OrderRequest(clientOrderID: leg.clientOrderID, instrument: leg.instrument, side: leg.side,
                                 limitPrice: leg.limitPrice, quantity: leg.quantity, timeInForce: leg.timeInForce),
                    leg.venueOrderID, try store.opportunity(leg.opportunityID)?.createdAtMilliseconds)
        }
    }
}

import ArbEngine
import Foundation
@testable import OrderStateMachine
import Synchronization

/// The one venue wrapper for fault injection: every call goes to the paper venue inside unless a
/// hook for it is set; a hook gets the call and the paper venue, and decides what the caller sees.
final class ForwardingVenue: Venue {
    struct Hooks: Sendable {
        var submit: (@Sendable (PreparedOrder, PaperVenue) async throws -> SubmitAck)?
        var cancel: (@Sendable (String, PaperVenue) async throws -> CancelAnswer)?
        var order: (@Sendable (String, PaperVenue) async throws -> VenueOrder?)?
        var fills: (@Sendable (String, PaperVenue) async throws -> [FillReport])?
    }

    let inner: PaperVenue
    let hooks: Hooks

    init(_ inner: PaperVenue, hooks: Hooks) {
        self.inner = inner
        self.hooks = hooks
    }

    var name: String { inner.name }
    var feeModel: FeeModel { inner.feeModel }
    var settleWindowMilliseconds: Int64 { inner.settleWindowMilliseconds }
    var events: AsyncStream<VenueEvent> { inner.events }
    func prepare(_ request: OrderRequest) -> PreparedOrder { inner.prepare(request) }
    func fills(clientOrderID: String) async throws -> [FillReport] {
        if let hook = hooks.fills { return try await hook(clientOrderID, inner) }
        return try await inner.fills(clientOrderID: clientOrderID)
    }
    func positions() async throws -> [VenuePosition] { try await inner.positions() }
    func balance() async throws -> Money { try await inner.balance() }

    func submit(_ order: PreparedOrder) async throws -> SubmitAck {
        if let hook = hooks.submit { return try await hook(order, inner) }
        return try await inner.submit(order)
    }

    func cancel(clientOrderID: String) async throws -> CancelAnswer {
        if let hook = hooks.cancel { return try await hook(clientOrderID, inner) }
        return try await inner.cancel(clientOrderID: clientOrderID)
    }

    func order(clientOrderID: String) async throws -> VenueOrder? {
        if let hook = hooks.order { return try await hook(clientOrderID, inner) }
        return try await inner.order(clientOrderID: clientOrderID)
    }
}

// MARK: - The faults the tests inject

extension ForwardingVenue {
    enum SubmitFault: Sendable {
        /// The order reaches the venue; the answer is replaced by this error.
        case afterPlacing(any Error & Sendable)
        /// The order never reaches the venue; the caller gets this error.
        case beforePlacing(any Error & Sendable)
    }

    /// A paper venue behind a line that fails the way real venue APIs do: a submit whose answer
    /// is lost (after or before the order reached the venue), every lookup or cancel failing.
    static func faulty(_ inner: PaperVenue, submit: SubmitFault? = nil, lookup: (any Error & Sendable)? = nil,
                       cancel: (any Error & Sendable)? = nil) -> ForwardingVenue {
        var hooks = Hooks()
        switch submit {
        case .afterPlacing(let error)?:
            hooks.submit = { order, inner in
                _ = try? await inner.submit(order)
                throw error
            }
        case .beforePlacing(let error)?:
            hooks.submit = { _, _ in throw error }
        case nil: break
        }
        if let lookup { hooks.order = { _, _ in throw lookup } }
        if let cancel { hooks.cancel = { _, _ in throw cancel } }
        return ForwardingVenue(inner, hooks: hooks)
    }

    /// Refuses the first `refusals` cancels it is sent, then passes them through.
    static func refusingCancels(_ inner: PaperVenue, refusals: Int) -> ForwardingVenue {
        let left = Mutex(refusals)
        return ForwardingVenue(inner, hooks: Hooks(cancel: { clientOrderID, inner in
            let refuse = left.withLock { left in
                defer { left = max(0, left - 1) }
                return left > 0
            }
            if refuse { return .failed(reason: "busy, try again") }
            return try await inner.cancel(clientOrderID: clientOrderID)
        }))
    }

    /// What the trader database said each time a cancel arrived.
    actor CancelWitness {
        var statesAtCancel: [String] = []
        func add(_ state: String) { statesAtCancel.append(state) }
    }

    /// Looks at the trader database (on its own connection) at the instant a cancel arrives, and
    /// can hold the cancel back for a while.
    static func watched(_ inner: PaperVenue, databasePath: String, cancelDelayMilliseconds: Int64 = 0,
                        witness: CancelWitness = CancelWitness()) -> ForwardingVenue {
        ForwardingVenue(inner, hooks: Hooks(cancel: { clientOrderID, inner in
            let state = (try? Store(path: databasePath, access: .readOnly).connection
                .prepare("SELECT o.state FROM opportunities o JOIN legs l ON l.opportunity_id = o.id WHERE l.client_order_id = ?")
                .queryOne(clientOrderID) { $0.text(0) }) ?? nil
            await witness.add(state ?? "missing")
            if cancelDelayMilliseconds > 0 { try await Task.sleep(for: .milliseconds(cancelDelayMilliseconds)) }
            return try await inner.cancel(clientOrderID: clientOrderID)
        }))
    }
}

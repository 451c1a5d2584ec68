import Foundation
import Logging
import OrderStateMachine
import ServiceLifecycle

/// While an opportunity's exposure stays open (one-sided and not flattened), a reminder alert
/// every `remind_every_minutes`, with the exposure as the database has it now and, when the
/// trader holds a trusted bid for it, its mark-to-market (`ExposureMark`). Keyed by
/// opportunity and reminder number, through the outbox like every alert: a restart neither loses
/// nor repeats one, and they stop when the exposure is closed (flattened). After a long gap only
/// the current reminder is raised, not every missed one.
public enum ExposureReminders {
    /// Marks an exposure at `now` (nil: no trusted book for it).
    public typealias Marker = @Sendable (_ eventID: String, _ exposure: Exposure, _ legs: [Leg], _ now: Int64) -> ExposureMark?

    /// The reminders due at `now` that are not written yet (writing them is idempotent by key).
    public static func due(_ store: Store, databaseID: String, now: Int64, intervalMilliseconds: Int64, marker: Marker? = nil) throws
        -> [(alert: NewAlert, opportunity: OpportunityID)] {
        guard intervalMilliseconds > 0 else { return [] }
        var due: [(NewAlert, OpportunityID)] = []
        for opportunity in try store.oneSidedOpportunities() {
            let alerts = try store.alerts(of: opportunity.id)
            let since = alerts.filter { $0.kind == OneSidedAlert.Phase.detected.rawValue }.map(\.createdAtMilliseconds).min()
                ?? opportunity.updatedAtMilliseconds
            let number = (now - since) / intervalMilliseconds
            guard number >= 1 else { continue }
            let key = "reminder-\(databaseID)-\(opportunity.id)-\(number)"
            guard !alerts.contains(where: { $0.key == key }) else { continue }
            let legs = try store.legs(of: opportunity.id)
            let exposure = Exposure(legs: legs, unwindOrders: try store.unwindOrders(of: opportunity.id))
            guard !exposure.exposed.isZero else { continue }
            let minutes = (now - since) / 60_000
            let mark = marker?(opportunity.eventID, exposure, legs, now)
            let marked = mark.map { mark in
                "; marked at the \(mark.venue) bid \(mark.bid) (\(mark.ageMilliseconds) ms old): \(mark.proceeds) "
                    + "after the fee to sell, unrealised \(mark.unrealised)"
            } ?? (marker == nil ? "" : "; no trusted book to mark it")
            let text = "REMINDER \(number): opportunity \(opportunity.id) (\(opportunity.eventID)) is still one-sided after "
                + "\(minutes) min: \(exposure.exposed) contracts exposed, \(exposure.atRisk) at risk" + marked
                + (opportunity.state.isTerminal ? "" : " (state \(opportunity.state))")
                + ". Flatten it at the venue, then: arbadmin close \(opportunity.id) --flattened --note …"
            let markJSON: JSONValue = mark.map { mark in
                .object([JSONMember(key: "venue", value: .string(mark.venue)), JSONMember(key: "bid", value: .string(mark.bid.description)),
                         JSONMember(key: "age_ms", value: .number(String(mark.ageMilliseconds))),
                         JSONMember(key: "proceeds_usd", value: .string(mark.proceeds.decimalString)),
                         JSONMember(key: "unrealised_usd", value: .string(mark.unrealised.decimalString))])
            } ?? .null
            let body = JSONValue.object([
                JSONMember(key: "opportunity", value: .number(String(opportunity.id))),
                JSONMember(key: "event", value: .string(opportunity.eventID)),
                JSONMember(key: "reminder", value: .number(String(number))),
                JSONMember(key: "open_minutes", value: .number(String(minutes))),
                JSONMember(key: "exposure_contracts", value: .string(exposure.exposed.description)),
                JSONMember(key: "exposure_usd", value: .string(exposure.atRisk.decimalString)),
                JSONMember(key: "mark", value: markJSON),
            ]).compactText
            due.append((NewAlert(key: key, kind: "one_sided_reminder", severity: .critical, text: text, bodyJSON: body), opportunity.id))
        }
        return due
    }

    /// Writes the due reminders (each idempotent by key) and returns how many were new.
    @discardableResult
    public static func raise(_ ledger: Ledger, now: Int64, intervalMilliseconds: Int64, marker: Marker? = nil) async throws -> Int {
        let databaseID = ledger.databaseID
        return try await ledger.withStore { store in
            let due = try Self.due(store, databaseID: databaseID, now: now, intervalMilliseconds: intervalMilliseconds, marker: marker)
            for (alert, opportunity) in due { try store.insertAlert(alert, opportunity: opportunity, atMilliseconds: now) }
            return due.count
        }
    }
}

/// Raises the exposure reminders while the trader runs (checked every minute, or every interval
/// when shorter).
struct ExposureReminderService: Service {
    let ledger: Ledger
    let intervalMilliseconds: Int64
    let marker: ExposureReminders.Marker?
    let clock: any TradingClock
    let logger: Logger

    func run() async throws {
        // Off: stay up until the shutdown all the same (a service's return ends the group).
        guard intervalMilliseconds > 0 else { try? await gracefulShutdown(); return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let raised = try await ExposureReminders.raise(ledger, now: clock.nowMilliseconds(),
                                                                   intervalMilliseconds: intervalMilliseconds, marker: marker)
                    if raised > 0 { logger.warning("\(raised) exposure reminder(s) raised: one-sided exposure still open") }
                } catch {
                    logger.error("exposure reminders: \(error)")
                }
                do { try await clock.sleep(milliseconds: min(intervalMilliseconds, 60_000)) } catch { return }
            }
        }
    }
}

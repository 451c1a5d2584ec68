import Foundation
import OrderStateMachine

/// The operator's writes: the halt flag and the manual close. Each is one transaction in the
/// store; what happened is returned as lines for people and JSON for machines.
public enum OperatorActions {
    /// What a command did, for both audiences.
    public struct Outcome: Sendable {
        public var lines: [String]
        public var json: String
    }

    // MARK: - Halt and resume

    /// Persists the halt flag: a running `arb run` opens no new opportunity from its next quote
    /// (in-flight ones finish) and a restart stays halted until `resume`.
    public static func halt(_ store: Store, reason: String, now: Int64) throws -> Outcome {
        let before = try store.haltState()
        try store.halt(reason: reason, atMilliseconds: now)
        var lines = ["halted: \(MessageText.singleLine(reason)) — no new opportunities until `arbadmin resume`; in-flight ones finish"]
        if before.halted {
            lines.append("(it was already halted since \(before.sinceMilliseconds.map(Timestamp.iso8601) ?? "?"): \(MessageText.singleLine(before.reason ?? "")))")
        }
        return Outcome(lines: lines, json: AdminText.json([
            "halted": true, "reason": reason, "halted_since": Timestamp.iso8601(now), "was_halted": before.halted,
            "previous_reason": AdminJSON.nullable(before.reason),
        ]))
    }

    public static func resume(_ store: Store, now: Int64) throws -> Outcome {
        let before = try store.haltState()
        guard before.halted else {
            return Outcome(lines: ["not halted: nothing to resume"],
                           json: AdminText.json(["halted": false, "was_halted": false, "previous_reason": NSNull()]))
        }
        try store.resume(atMilliseconds: now)
        return Outcome(
            lines: ["resumed: trading may open new opportunities again (it was halted: \(MessageText.singleLine(before.reason ?? "")))"],
            json: AdminText.json(["halted": false, "was_halted": true, "previous_reason": AdminJSON.nullable(before.reason)]))
    }

    /// `arbadmin resume --market EVENT`: clears the block set after too many unwinds.
    public static func resumeMarket(_ store: Store, eventID: String, now: Int64) throws -> Outcome {
        guard let reason = try store.marketBlock(eventID) else {
            let blocked = try store.blockedMarkets().keys.sorted()
            return Outcome(lines: ["market \(MessageText.quoted(eventID)) is not blocked" + (blocked.isEmpty ? "" : "; blocked: \(blocked.joined(separator: ", "))")],
                           json: AdminText.json(["market": eventID, "was_blocked": false]))
        }
        try store.setMarketBlock(eventID, reason: nil, atMilliseconds: now)
        return Outcome(lines: ["market \(MessageText.quoted(eventID)) unblocked: it may trade again (it was blocked: \(MessageText.singleLine(reason)))"],
                       json: AdminText.json(["market": eventID, "was_blocked": true, "previous_reason": reason]))
    }

    // MARK: - Close

    /// `arbadmin close ID --note TEXT [--flattened]`: a non-terminal opportunity → `Closed(manual)`
    /// with the note as the transition's reason; with `--flattened` also marked flattened (its
    /// exposure was offset by hand). A `Closed(one_sided)` one can only be marked flattened. The
    /// note is also written as an `operator_note` alert in the same commit, so the alert channel
    /// that announced the exposure hears that a person resolved it.
    ///
    /// - Throws: `AdminFailure` (exit 1) for an unknown id, a refusal, or a lost race.
    public static func close(_ store: Store, id: OpportunityID, note: String, flattened: Bool, now: Int64) throws -> Outcome {
        guard let history = try store.history(of: id) else { throw AdminFailure.unknownOpportunity(id, path: store.path) }
        let opportunity = history.opportunity
        let state = opportunity.state
        let exposure = Exposure(history)
        let action = state.isTerminal ? "flattened" : "close"
        let alert = NewAlert(
            key: "arb-\(store.databaseID)-\(id)-operator-\(action)", kind: "operator_note", severity: .info,
            text: state.isTerminal
                ? "OPERATOR — opportunity \(id) (\(opportunity.eventID), \(state)): exposure of \(exposure.exposed) contracts marked flattened by hand: \(note)"
                : "OPERATOR — opportunity \(id) (\(opportunity.eventID)) closed by hand from \(state)\(flattened ? ", exposure of \(exposure.exposed) contracts flattened by hand" : ""): \(note)",
            bodyJSON: AdminText.json([
                "opportunity_id": id, "event_id": opportunity.eventID, "action": action, "note": note,
                "state_before": state.description, "flattened": flattened, "exposed_quantity": exposure.exposed.description,
            ]))
        let result = try store.closeByOperator(id, expected: state, reason: note, flattened: flattened, alert: alert, at: now)
        var lines: [String]
        switch result {
        case .closed(let from, let markedFlattened):
            lines = ["opportunity \(id): \(from) → Closed(manual)\(markedFlattened ? ", flattened" : ""): \(MessageText.singleLine(note))"]
            let live = history.legs.filter { !$0.status.isFinal }
            if !live.isEmpty {
                lines.append("warning: leg \(live.map { "\($0.leg.rawValue) (\($0.status.rawValue) at \($0.venue), \($0.clientOrderID))" }.joined(separator: ", ")) may still be live at the venue: closing does not cancel it — cancel it there")
            }
            if exposure.exposed > .zero && !markedFlattened {
                lines.append("warning: \(exposure.exposed) contracts are still exposed and it no longer shows in `list --one-sided`; `arbadmin positions` still counts them")
            }
        case .markedFlattened:
            lines = ["opportunity \(id): Closed(one_sided) marked flattened (\(exposure.exposed) contracts offset by hand); it leaves `list --one-sided`: \(MessageText.singleLine(note))"]
        case .stale(let current):
            throw AdminFailure("opportunity \(id) changed while closing: it is now \(current), not \(state) (a trader or reconcile moved it); nothing was written — look again with `arbadmin show \(id)`")
        case .notFound:
            throw AdminFailure.unknownOpportunity(id, path: store.path)
        case .refused(.terminal(let current)):
            if current == .closed(.oneSided) {
                throw AdminFailure("opportunity \(id) is already Closed(one_sided); to record that its exposure was flattened by hand, add --flattened")
            }
            throw AdminFailure("opportunity \(id) is \(current): a closed opportunity is history and cannot be closed again\(flattened ? "; only a Closed(one_sided) one can be marked flattened" : "")")
        case .refused(.alreadyFlattened):
            throw AdminFailure("opportunity \(id) is already marked flattened; nothing to do")
        case .refused(.nothingToFlatten):
            throw AdminFailure("opportunity \(id) has no exposure to flatten (its legs are equally filled); close it without --flattened")
        }
        let after = try store.opportunity(id)
        return Outcome(lines: lines, json: AdminText.json([
            "id": id, "action": action, "note": note, "state_before": state.description,
            "state": after?.state.name ?? state.name, "outcome": AdminJSON.nullable(after?.state.outcome?.rawValue),
            "flattened": after?.flattened ?? false, "exposed_quantity": exposure.exposed.description,
        ]))
    }
}

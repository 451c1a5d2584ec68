import OrderStateMachine

/// `list`'s flags as typed.
public struct ListFilters: Sendable, Hashable {
    public var state: String?
    public var outcome: String?
    public var oneSided: Bool
    public var since: String?
    public var limit: Int?

    public init(state: String?, outcome: String?, oneSided: Bool, since: String?, limit: Int?) {
        self.state = state
        self.outcome = outcome
        self.oneSided = oneSided
        self.since = since
        self.limit = limit
    }

    /// - Throws: `AdminFailure` (exit 2) saying what to type instead.
    public func validate(now: Int64) throws(AdminFailure) {
        _ = try query(now: now)
    }

    public func query(now: Int64) throws(AdminFailure) -> OpportunityQuery {
        try AdminFilters.query(state: state, outcome: outcome, oneSided: oneSided, since: since, limit: limit, now: now)
    }
}

/// `arbadmin list`: opportunities newest first, as an aligned table or a JSON array.
public enum OpportunityListing {
    public static func read(_ store: Store, _ filters: ListFilters, now: Int64) throws -> [OpportunitySummary] {
        try store.opportunitySummaries(filters.query(now: now))
    }

    /// id, age, event, state/outcome, edge, hedged and exposed contracts, exposure; a total line.
    public static func table(_ rows: [OpportunitySummary], now: Int64) -> [String] {
        guard !rows.isEmpty else { return ["no opportunities match"] }
        var exposed = Quantity.zero
        var atRisk = Money.zero
        let cells = rows.map { row -> [String] in
            let opportunity = row.opportunity
            let exposure = Exposure(row)
            if !opportunity.flattened {
                exposed += exposure.exposed
                atRisk += exposure.atRisk
            }
            let side = exposure.leadingLeg.map { leg in
                " \(opportunity.quote(leg).outcome)@\(opportunity.quote(leg).venue)"
            } ?? ""
            return [
                "\(opportunity.id)", AdminText.age(opportunity.createdAtMilliseconds, now: now), opportunity.eventID,
                opportunity.stateText, "\(opportunity.edgeBps)", exposure.hedged.description,
                exposure.exposed.description + side, exposure.atRisk.description,
            ]
        }
        let lines = AdminText.table(
            ["ID", "AGE", "EVENT", "STATE", "EDGE BPS", "HEDGED", "EXPOSED", "EXPOSURE"], cells,
            alignments: [.right, .right, .left, .left, .right, .right, .right, .right])
        let noun = rows.count == 1 ? "opportunity" : "opportunities"
        return lines + ["\(rows.count) \(noun); not flattened: \(exposed) contracts exposed, \(atRisk) at risk"]
    }

    public static func json(_ rows: [OpportunitySummary]) -> String {
        AdminText.json(rows.map { AdminJSON.opportunity($0.opportunity, exposure: Exposure($0)) })
    }
}

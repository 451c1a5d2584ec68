import Foundation
import OrderStateMachine

/// The values people type into `arbadmin`'s filters, checked with messages that say what to type
/// instead (usage errors: exit 2).
public enum AdminFilters {
    static let stateNames = ["Detected", "InFlight", "LegsPlaced", "Filled", "OneSided", "CancelAttempted", "Unwinding", "Closed"]

    /// A state name as stored (`OneSided`), typed in any case (`onesided`).
    public static func state(_ text: String) throws(AdminFailure) -> String {
        guard let name = stateNames.first(where: { $0.lowercased() == text.lowercased() }) else {
            throw AdminFailure(
                "--state \(MessageText.singleLine(text)) is not a state; use one of \(stateNames.joined(separator: ", ")) (and --outcome for how a Closed one ended)",
                exitCode: .usage)
        }
        return name
    }

    /// A close outcome as stored (`one_sided`), typed in any case, `-` or `_`.
    public static func outcome(_ text: String) throws(AdminFailure) -> CloseOutcome {
        let normalized = text.lowercased().replacingOccurrences(of: "-", with: "_")
        guard let outcome = CloseOutcome(rawValue: normalized) else {
            throw AdminFailure(
                "--outcome \(MessageText.singleLine(text)) is not an outcome; use one of \(CloseOutcome.allCases.map(\.rawValue).joined(separator: ", "))",
                exitCode: .usage)
        }
        return outcome
    }

    /// `--since`: see `AdminText.parseSince`.
    public static func since(_ text: String, now: Int64) throws(AdminFailure) -> Int64 {
        guard let milliseconds = AdminText.parseSince(text, now: now) else {
            throw AdminFailure(
                "--since \(MessageText.singleLine(text)) is not a time; type an ISO 8601 time such as 2025-06-01T09:30:00Z, a date such as 2025-06-01 (UTC), or an age such as 90m, 2h or 3d",
                exitCode: .usage)
        }
        return milliseconds
    }

    /// The query `list` and `export` run, from their validated flags.
    public static func query(state: String?, outcome: String?, oneSided: Bool, since: String?, limit: Int?,
                             now: Int64) throws(AdminFailure) -> OpportunityQuery {
        let stateName = try state.map { text throws(AdminFailure) in try Self.state(text) }
        let closeOutcome = try outcome.map { text throws(AdminFailure) in try Self.outcome(text) }
        if let stateName, closeOutcome != nil, stateName != "Closed" {
            throw AdminFailure("--outcome applies to Closed opportunities only; drop --state \(stateName) or --outcome",
                               exitCode: .usage)
        }
        if let limit, limit < 1 {
            throw AdminFailure("--limit \(limit) would show nothing; type a number of opportunities of at least 1",
                               exitCode: .usage)
        }
        let sinceMilliseconds = try since.map { text throws(AdminFailure) in try Self.since(text, now: now) }
        return OpportunityQuery(state: stateName, outcome: closeOutcome, oneSided: oneSided,
                                createdSinceMilliseconds: sinceMilliseconds, limit: limit)
    }
}

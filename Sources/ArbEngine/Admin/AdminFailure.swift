import OrderStateMachine

/// `arbadmin`'s exit codes (also in `arbadmin --help` and the README).
public enum AdminExitCode: Int32, Sendable {
    case ok = 0
    /// Something needs a person (reconcile left an opportunity non-terminal), or an operating
    /// error: a missing or foreign database, an unknown id, a refused or lost close, a held lease.
    case needsAttention = 1
    /// Usage or config errors: a bad flag or value, an invalid `--config`.
    case usage = 2
}

/// Why an `arbadmin` command stopped: one line for standard error (`arbadmin: …`) and the exit
/// code. Every message names what was wrong and what to do.
public struct AdminFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var exitCode: AdminExitCode

    public init(_ message: String, exitCode: AdminExitCode = .needsAttention) {
        self.message = MessageText.singleLine(message)
        self.exitCode = exitCode
    }

    public var description: String { message }

    /// Any error an admin command can meet, as a failure: config errors are usage errors (2),
    /// everything else (database files, SQLite, venues) an operating error (1).
    public static func from(_ error: any Error) -> AdminFailure {
        switch error {
        case let failure as AdminFailure: failure
        case let config as ConfigError: AdminFailure(config.description, exitCode: .usage)
        default: AdminFailure(String(describing: error))
        }
    }

    public static func unknownOpportunity(_ id: OpportunityID, path: String) -> AdminFailure {
        AdminFailure("no opportunity \(id) in \(path): `arbadmin list` shows the ids")
    }
}

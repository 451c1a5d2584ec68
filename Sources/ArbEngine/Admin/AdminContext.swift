import Foundation
import OrderStateMachine

/// The database and config an `arbadmin` command works on, resolved exactly as `arb run`
/// resolves them: `--db`, else the `--config` file's `database`, else the built-in demo's
/// (`arb.db` in the working directory).
public struct AdminContext: Sendable {
    public var config: TraderConfig
    public var databasePath: String
    /// Whether a `--config` file was given (else the built-in demo config is in use).
    public var configPath: String?

    /// - Throws: `AdminFailure` (exit 2) when the config file is missing or invalid.
    public init(databasePath: String?, configPath: String?) throws(AdminFailure) {
        var config: TraderConfig
        do {
            config = try configPath.map { path throws(ConfigError) in try TraderConfig.load(path: path) } ?? TraderConfig.demo()
        } catch {
            throw AdminFailure(error.description, exitCode: .usage)
        }
        if let databasePath { config.databasePath = databasePath }
        self.config = config
        self.databasePath = config.databasePath
        self.configPath = configPath
    }

    /// The paper venues' own files by venue name (beside the database), those that exist.
    public func paperFiles() -> [String: String] {
        var files: [String: String] = [:]
        for (name, venue) in config.venues where venue.kind == .paper {
            let path = config.paperStatePath(venue: name)
            if FileManager.default.fileExists(atPath: path) { files[name] = path }
        }
        // A real venue's adapter pointed at the loopback exchange: its paper file beside the database.
        for name in config.venues.keys {
            if let path = config.loopbackStatePath(venue: name), FileManager.default.fileExists(atPath: path) { files[name] = path }
        }
        return files
    }

    /// The database opened read-only: nothing is ever written, and it reads while `arb run` trades
    /// (WAL). A missing, foreign or newer file is refused, untouched, with one line.
    public func openReadOnly() throws(AdminFailure) -> Store {
        do {
            return try Store(path: databasePath, access: .readOnly)
        } catch {
            throw AdminFailure.from(error)
        }
    }

    /// The existing database opened for writing (halt, resume, close, reconcile): never created.
    public func openForWriting() throws(AdminFailure) -> Store {
        do {
            return try Store(path: databasePath, access: .existing, durability: config.durability)
        } catch {
            throw AdminFailure.from(error)
        }
    }
}

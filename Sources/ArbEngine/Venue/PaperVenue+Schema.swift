#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrderStateMachine

/// Why a paper venue's state file was refused. Each description is one line that names the file,
/// the problem and what to do. A refused file is never written.
public enum PaperVenueFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case isDirectory(path: String)
    case empty(path: String)
    case notSQLite(path: String)
    case foreignApplication(path: String, applicationID: Int32)
    case newerSchema(path: String, found: Int64, supported: Int64)
    /// The file is another paper venue's: its fills and venue order ids carry that venue's name.
    case otherVenue(path: String, found: String, expected: String)
    case cannotCreate(path: String, detail: String)
    case cannotOpen(path: String, detail: String)

    public var description: String {
        switch self {
        case .isDirectory(let path):
            "\(path) is a directory, not a paper venue file: set state_file to a file path"
        case .empty(let path):
            "\(path) is an empty file, not a paper venue file: remove it or set state_file to another path"
        case .notSQLite(let path):
            "\(path) is not a paper venue file (not a SQLite file): set state_file to a paper venue file or a new path"
        case .foreignApplication(let path, let applicationID):
            applicationID == DatabaseFile.applicationID
                ? "\(path) is the trader's own database, not a paper venue file: give the paper venue its own state_file"
                : "\(path) is a SQLite database of another application (application_id \(applicationID)): set state_file to a paper venue file or a new path"
        case .newerSchema(let path, let found, let supported):
            "\(path) has paper venue schema version \(found), newer than this build supports (\(supported)): upgrade arb to open it"
        case .otherVenue(let path, let found, let expected):
            "\(path) is the state file of paper venue \(found), not \(expected): give each venue its own state_file"
        case .cannotCreate(let path, let detail):
            "cannot create paper venue file \(path): \(detail)"
        case .cannotOpen(let path, let detail):
            "cannot open paper venue file \(path): \(detail)"
        }
    }
}

/// Creating, identifying and configuring a paper venue's own SQLite file (DESIGN §7).
///
/// The file stands in for the exchange's records, so it is kept apart from the trader's database:
/// killing the trader must not touch what the "exchange" knows, exactly as with a real venue.
enum PaperVenueFile {
    /// `PRAGMA application_id` of a paper venue file: "ARPP".
    static let applicationID: Int32 = 0x4152_5050
    /// `PRAGMA user_version` this build writes and understands.
    static let schemaVersion: Int64 = 1

    /// Units as in the trader's schema (DESIGN §2): prices in ticks of $0.0001, quantities in
    /// hundredths of a contract, money in micro-dollars, times in Unix milliseconds.
    static let schema = """
        CREATE TABLE paper_meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        -- Every order the venue received, accepted or rejected, so any tool can audit it.
        CREATE TABLE paper_orders (
            id               INTEGER PRIMARY KEY,
            client_order_id  TEXT    NOT NULL UNIQUE,   -- a duplicate submit is refused (Kalshi: 409)
            venue_order_id   TEXT    NOT NULL UNIQUE,
            instrument       TEXT    NOT NULL,
            side             TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
            price            INTEGER NOT NULL CHECK (price > 0 AND price < 10000),
            quantity         INTEGER NOT NULL CHECK (quantity >= 0),  -- 0 only on a rejected row
            filled_quantity  INTEGER NOT NULL DEFAULT 0
                                 CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
            status           TEXT    NOT NULL CHECK (status IN
                                 ('open', 'partially_filled', 'filled', 'cancelled', 'rejected')),
            time_in_force    TEXT    NOT NULL CHECK (time_in_force IN ('ioc', 'fok', 'gtc')),
            reason           TEXT,                     -- why rejected or cancelled
            fate             TEXT    NOT NULL,         -- what the fill model decided at submit
            cancel_attempts  INTEGER NOT NULL DEFAULT 0 CHECK (cancel_attempts >= 0),
            created_at_ms    INTEGER NOT NULL,
            updated_at_ms    INTEGER NOT NULL,
            CHECK (status <> 'rejected' OR filled_quantity = 0),
            CHECK (status <> 'filled' OR filled_quantity = quantity)
        );

        CREATE TABLE paper_fills (
            id               INTEGER PRIMARY KEY,
            trade_id         TEXT    NOT NULL UNIQUE,
            client_order_id  TEXT    NOT NULL REFERENCES paper_orders (client_order_id),
            price            INTEGER NOT NULL CHECK (price > 0 AND price < 10000),
            quantity         INTEGER NOT NULL CHECK (quantity > 0),
            fee_micros       INTEGER NOT NULL CHECK (fee_micros >= 0),
            filled_at_ms     INTEGER NOT NULL
        );
        CREATE INDEX paper_fills_by_order ON paper_fills (client_order_id);
        CREATE INDEX paper_orders_by_instrument ON paper_orders (instrument, side, status);

        -- History is never deleted (DESIGN §8.7).
        CREATE TRIGGER paper_orders_keep BEFORE DELETE ON paper_orders
        BEGIN SELECT RAISE(ABORT, 'paper_orders rows are never deleted'); END;
        CREATE TRIGGER paper_fills_keep BEFORE DELETE ON paper_fills
        BEGIN SELECT RAISE(ABORT, 'paper_fills rows are never deleted'); END;
        """

    /// Opens the paper venue file at `path`, creating it if absent, after proving it is a paper
    /// venue file of `venueName`. A file that is not ours is refused before SQLite opens it.
    ///
    /// `synchronous=NORMAL`: in WAL mode every commit survives `kill -9` of the process, the crash
    /// the paper venue exists to model; power loss could roll back the last commits, which for a
    /// paper venue only loses simulated orders, and saves an fsync per order.
    static func open(path: String, venueName: String, busyTimeoutMilliseconds: Int32 = 5_000) throws -> Connection {
        let connection: Connection
        do {
            (connection, _) = try OwnedFile.open(
                path: path, applicationID: applicationID, schemaVersion: schemaVersion, access: .createIfMissing,
                busyTimeoutMilliseconds: busyTimeoutMilliseconds, initialize: { try initialize($0, venueName: venueName) })
        } catch {
            throw refusal(error, path: path)
        }
        do {
            let owner = try connection.prepare("SELECT value FROM paper_meta WHERE key = 'venue_name'")
                .queryOne { $0.text(0) } ?? ""
            guard owner == venueName else {
                throw PaperVenueFileError.otherVenue(path: path, found: owner, expected: venueName)
            }
            try connection.execute("PRAGMA journal_mode = WAL")
            try connection.execute("PRAGMA synchronous = NORMAL")
            try connection.execute("PRAGMA foreign_keys = ON")
        } catch let error as SQLiteError {
            throw refusal(OwnedFile.classify(error), path: path)
        }
        return connection
    }

    /// A refusal in the paper venue's words.
    static func refusal(_ refusal: OwnedFileRefusal, path: String) -> PaperVenueFileError {
        switch refusal {
        case .isDirectory: .isDirectory(path: path)
        case .empty: .empty(path: path)
        case .notSQLite: .notSQLite(path: path)
        case .foreignApplication(let found): .foreignApplication(path: path, applicationID: found)
        case .newerSchema(let found): .newerSchema(path: path, found: found, supported: schemaVersion)
        case .cannotCreate(let detail): .cannotCreate(path: path, detail: detail)
        // A paper venue file is created when missing; damage is reported as it is.
        case .missing: .cannotOpen(path: path, detail: "it does not exist")
        case .damaged(let detail): .cannotOpen(path: path, detail: "it is damaged (\(detail))")
        case .cannotOpen(let detail): .cannotOpen(path: path, detail: detail)
        }
    }

    /// A new paper venue file's schema and owner, in one transaction; 0600 from the first byte
    /// (``OwnedFile`` creates it whole or not at all): it is a trading record of this account.
    static func initialize(_ connection: Connection, venueName: String) throws {
        try connection.writeTransaction {
            try connection.execute(schema)
            try connection.execute("PRAGMA application_id = \(applicationID)")
            try connection.execute("PRAGMA user_version = \(schemaVersion)")
            try connection.prepare("INSERT INTO paper_meta (key, value) VALUES ('venue_name', ?)").execute(venueName)
        }
    }
}

import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

@Suite("Database file identity")
struct FileIdentityTests {
    let directory = TemporaryDirectory()

    /// Opens `path` for writing and expects `expected`, a one-line message, and the file unchanged.
    func expectRefused(_ path: String, _ expected: DatabaseFileError, access: DatabaseFile.Access = .createIfMissing) {
        let before = fileContents(path)
        #expect(throws: expected) { _ = try Store(path: path, access: access) }
        #expect(!expected.description.contains("\n"))
        #expect(expected.description.contains(path))
        #expect(fileContents(path) == before, "the refused file was modified")
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test("another application's SQLite file is refused and left byte-for-byte untouched")
    func foreignSQLite() throws {
        let path = directory.path("other.db")
        do {
            let other = try Connection(path: path, mode: .readWriteCreate)
            try other.execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine'); PRAGMA application_id = 7")
        }
        expectRefused(path, .foreignApplication(path: path, applicationID: 7))
        do {
            let plain = directory.path("plain.db")
            let other = try Connection(path: plain, mode: .readWriteCreate)
            try other.execute("CREATE TABLE t (x)")
            _ = other
            expectRefused(plain, .foreignApplication(path: plain, applicationID: 0))
        }
    }

    @Test("a text file, garbage and an empty file are refused and left untouched")
    func notSQLite() throws {
        let text = directory.path("notes.txt")
        try "these are my notes\n".write(toFile: text, atomically: true, encoding: .utf8)
        expectRefused(text, .notSQLite(path: text))
        let garbage = directory.path("garbage.db")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: garbage))
        expectRefused(garbage, .notSQLite(path: garbage))
        let empty = directory.path("empty.db")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        expectRefused(empty, .empty(path: empty))
    }

    @Test("a database with a newer schema version is refused and left untouched")
    func newerSchema() throws {
        let path = directory.path("newer.db")
        do {
            let store = try Store(path: path)
            try store.connection.execute("PRAGMA user_version = \(Store.schemaVersion + 1); PRAGMA wal_checkpoint(TRUNCATE)")
        }
        let newer = DatabaseFileError.newerSchema(path: path, found: Store.schemaVersion + 1, supported: Store.schemaVersion)
        expectRefused(path, newer)
        expectRefused(path, newer, access: .readOnly)
    }

    @Test("a directory, or a missing file where one must exist, is refused without creating anything")
    func directoryAndMissing() throws {
        expectRefused(directory.url.path, .isDirectory(path: directory.url.path))
        let missing = directory.path("missing.db")
        expectRefused(missing, .missing(path: missing), access: .readOnly)
        expectRefused(missing, .missing(path: missing), access: .existing)
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test("a new database appears whole and private (0600), with no temporary file left behind")
    func creation() throws {
        let path = directory.path("new.db")
        _ = try Store(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.url.path).filter { $0.contains("creating") }
        #expect(leftovers.isEmpty)
    }

    @Test("read-only opening reads while writes are refused")
    func readOnly() throws {
        let path = directory.path("ro.db")
        let writer = try Store(path: path)
        _ = try writer.createOpportunity(sampleOpportunity("EV"))
        let reader = try Store(path: path, access: .readOnly)
        #expect(try reader.opportunity(1)?.eventID == "EV")
        #expect { _ = try reader.createOpportunity(sampleOpportunity("OTHER")) } throws: { error in
            (error as? SQLiteError)?.code.primary == .readOnly
        }
    }

    @Test("the sqlite3 shell shows the dedup index and trigger, and refuses hand-typed illegal changes")
    func sqliteShell() throws {
        let path = directory.path("shell.db")
        let store = try Store(path: path)
        _ = try store.createOpportunity(sampleOpportunity("EV"))
        let schema = try shell(["sqlite3", path, ".schema opportunities"])
        #expect(schema.status == 0)
        #expect(schema.stdout.contains("CREATE UNIQUE INDEX opportunities_live_dedup_key ON opportunities (dedup_key) WHERE state <> 'Closed'"))
        #expect(schema.stdout.contains("CREATE TRIGGER opportunities_legal_transition"))
        let illegal = try shell(["sqlite3", path, "UPDATE opportunities SET state = 'Filled' WHERE id = 1"])
        #expect(illegal.status != 0)
        #expect(illegal.stderr.contains("illegal transition"))
        let duplicate = try shell(["sqlite3", path, """
            INSERT INTO opportunities (dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b,
            instrument_b, edge_bps, price_a, price_b, quantity, created_at_ms, updated_at_ms)
            VALUES ('EV|kalshi:YES|polymarket:NO', 'EV', 'kalshi', 'YES', 'K', 'polymarket', 'NO', 'P', 1, 1, 1, 1, 0, 0)
            """])
        #expect(duplicate.status != 0)
        #expect(duplicate.stderr.contains("UNIQUE constraint failed"))
        #expect(try store.state(of: 1) == .detected)
    }

    func shell(_ arguments: [String]) throws -> ProcessOutput {
        try runExecutable("/usr/bin/env", arguments)
    }
}

import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

/// Bad database files, through the built `arb`: each is refused with one line that names the file
/// and the problem, exit 1 (an operating error), and nothing in the directory changes — a file
/// that is not ours, or that we cannot trust, is never written.
@Suite("Bad input: database files, through the built arb", .serialized, .exclusive)
struct BadInputDatabaseTests {
    /// Runs `arb run --db db` for a short demo and checks the refusal and that nothing changed
    /// (SQLite's `-shm` index aside, when `ignoringSharedMemory`).
    func expectRefused(_ directory: TemporaryDirectory, db: String, mentions: [String], asNobody: Bool = false,
                       ignoringSharedMemory: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let ignoring: (String) -> Bool = { ignoringSharedMemory && $0.hasSuffix("-shm") }
        let before = DirectorySnapshot(directory.url.path, ignoring: ignoring)
        let result = try await runBuilt("arb", ["run", "--db", db, "--duration", "0.3"], currentDirectory: directory.url.path,
                                  asNobody: asNobody, timeoutSeconds: 30)
        expectOneLineRefusal(result, status: 1, mentions: mentions, sourceLocation: sourceLocation)
        let changes = DirectorySnapshot(directory.url.path, ignoring: ignoring).differences(from: before)
        #expect(changes.isEmpty, "\(changes)", sourceLocation: sourceLocation)
    }

    /// A copy of the sample run's trader database with its WAL folded in, alone in a directory.
    func checkpointedDatabase() async throws -> (TemporaryDirectory, String) {
        let directory = try await directoryWithSampleRun()
        for name in ["paper-kalshi.db", "paper-polymarket.db", "data/alerts.log"] {
            try? FileManager.default.removeItem(atPath: directory.path(name))
        }
        let db = directory.path("arb.db")
        do {
            let connection = try Connection(path: db, mode: .readWrite)
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }  // The last connection's close removes the -wal and -shm.
        #expect(!FileManager.default.fileExists(atPath: db + "-wal"))
        return (directory, db)
    }

    @Test("an empty file")
    func emptyFile() async throws {
        let directory = TemporaryDirectory()
        #expect(FileManager.default.createFile(atPath: directory.path("arb.db"), contents: Data()))
        try await expectRefused(directory, db: directory.path("arb.db"), mentions: ["arb.db is an empty file, not an arb database"])
    }

    @Test("a text file")
    func textFile() async throws {
        let directory = TemporaryDirectory()
        try "id,price\n1,0.45\n".write(toFile: directory.path("arb.db"), atomically: true, encoding: .utf8)
        try await expectRefused(directory, db: directory.path("arb.db"), mentions: ["arb.db is not an arb database (not a SQLite file)"])
    }

    @Test("a real arb database truncated to 3000 bytes")
    func truncated() async throws {
        let (directory, db) = try await checkpointedDatabase()
        let size = try #require(FileManager.default.attributesOfItem(atPath: db)[.size] as? Int)
        #expect(size > 3_000)
        #expect(truncate(db, 3_000) == 0)
        try await expectRefused(directory, db: db, mentions: ["arb.db is damaged", "restore it from a backup"])
    }

    @Test("another application's SQLite file, also one in WAL mode held open by its application",
          .enabled(if: SQLiteShellHolder.isAvailable, "needs the sqlite3 shell"))
    func foreignSQLite() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("notes.db")
        do {
            let connection = try Connection(path: db, mode: .readWriteCreate)
            try connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('buy milk')")
        }
        try await expectRefused(directory, db: db, mentions: ["notes.db is a SQLite database of another application"])
        // Another application's file with its own application_id, in WAL mode, open in another
        // process with a -wal beside it.
        let other = directory.path("other.db")
        let holder = try SQLiteShellHolder(
            path: other, statements: "PRAGMA application_id = 1234; PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        defer { holder.close() }
        #expect(FileManager.default.fileExists(atPath: other + "-wal"))
        try await expectRefused(directory, db: other, mentions: ["other.db is a SQLite database of another application (application_id 1234)"],
                          ignoringSharedMemory: true)
    }

    @Test("an arb database with a newer schema version, in the file header or only in its WAL",
          .enabled(if: SQLiteShellHolder.isAvailable, "needs the sqlite3 shell"))
    func newerSchema() async throws {
        let (directory, db) = try await checkpointedDatabase()
        do {
            let connection = try Connection(path: db, mode: .readWrite)
            try connection.execute("PRAGMA user_version = 99")
        }
        try await expectRefused(directory, db: db, mentions: ["arb.db has schema version 99, newer than this build supports (\(Store.schemaVersion))"])

        // The header still says the current version; the newer version sits in a WAL that is not checkpointed yet
        // (held open here): SQLite's own read, after opening, refuses it too.
        let (walDirectory, walDB) = try await checkpointedDatabase()
        let holder = try SQLiteShellHolder(path: walDB, statements: "PRAGMA wal_autocheckpoint = 0; PRAGMA user_version = \(Store.schemaVersion + 1);")
        defer { holder.close() }
        #expect(FileManager.default.fileExists(atPath: walDB + "-wal"))
        try await expectRefused(walDirectory, db: walDB, mentions: ["arb.db has schema version \(Store.schemaVersion + 1)"], ignoringSharedMemory: true)
    }

    @Test("a directory")
    func directoryPath() async throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("arb.db"), withIntermediateDirectories: false)
        try await expectRefused(directory, db: directory.path("arb.db"), mentions: ["arb.db is a directory, not a database file"])
    }

    /// Root writes into any directory, so these run `arb` as `nobody`: the database is nobody's,
    /// the directory root's and read-only, so SQLite cannot create the `-wal`/`-shm` it needs.
    @Test("a database in a read-only directory, a read-only database, a new database in a read-only directory (as nobody)",
          .enabled(if: canRunAsNobody, "needs root with setpriv to run arb as another user"))
    func readOnly() async throws {
        let (directory, db) = try await checkpointedDatabase()
        #expect(chown(db, 65534, 65534) == 0)
        #expect(chmod(directory.url.path, 0o555) == 0)
        defer { chmod(directory.url.path, 0o755) }
        try await expectRefused(directory, db: db, mentions: ["cannot open database \(db): attempt to write a readonly database"],
                          asNobody: true)
        try await expectRefused(directory, db: directory.path("new.db"), mentions: ["cannot create database \(directory.path("new.db"))"],
                          asNobody: true)

        let (fileDirectory, readOnlyDB) = try await checkpointedDatabase()
        #expect(chown(fileDirectory.url.path, 65534, 65534) == 0)
        #expect(chmod(readOnlyDB, 0o400) == 0 && chown(readOnlyDB, 65534, 65534) == 0)
        try await expectRefused(fileDirectory, db: readOnlyDB, mentions: ["cannot open database \(readOnlyDB): it is read-only"],
                          asNobody: true)
    }

    @Test("a database locked by another writer: refused after the busy timeout, not a hang",
          .enabled(if: SQLiteShellHolder.isAvailable, "needs the sqlite3 shell"))
    func lockedByAnotherWriter() async throws {
        let (directory, db) = try await checkpointedDatabase()
        // Another process holds the write lock, inside a transaction it has not committed.
        let holder = try SQLiteShellHolder(path: db, statements: "BEGIN EXCLUSIVE; UPDATE settings SET updated_at_ms = updated_at_ms;")
        defer { holder.close() }
        // The refusal is the event: the process ends by itself (runBuilt's deadline only stops a
        // hang, which expectRefused then reports as a kill), saying it waited out the busy timeout.
        // That it did wait is a lower bound, which a slow machine cannot break: SQLite's busy
        // handler retries for 5 s before it gives up.
        let started = ContinuousClock.now
        try await expectRefused(directory, db: db,
                                mentions: ["\(db) is locked by another writer (still locked after the busy timeout)"],
                                ignoringSharedMemory: true)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(4_900), "refused after \(waited); the busy timeout is 5 s")
    }
}

import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

extension AdminCLITests {
    @Suite("bad input: one line, non-zero, the file untouched")
    struct BadInput {
        /// Every command, as it would be typed against `db`.
        static func commands(_ db: String) -> [[String]] {
            [
                ["list", "--db", db], ["list", "--db", db, "--one-sided", "--json"], ["show", "1", "--db", db],
                ["status", "--db", db], ["alerts", "--db", db], ["positions", "--db", db],
                ["export", "--db", db, "--format", "csv"], ["reconcile", "--db", db], ["reconcile", "--db", db, "--dry-run"],
                ["close", "1", "--db", db, "--note", "x"], ["halt", "--db", db, "--reason", "x"], ["resume", "--db", db],
            ]
        }

        enum BadFile: String, CaseIterable, Sendable {
            case missing, textFile, foreignSQLite, newerSchema
        }

        @Test("a missing, text, foreign or newer-schema database is refused by every command", arguments: BadFile.allCases)
        func badDatabase(kind: BadFile) async throws {
            let directory = TemporaryDirectory()
            var db = directory.path("arb.db")
            let expected: String
            switch kind {
            case .missing:
                expected = "arbadmin: no database at \(db): run `arb run` to create one, or pass --db with the right path"
            case .textFile:
                try "id,state\n1,Closed\n".write(toFile: db, atomically: true, encoding: .utf8)
                expected = "arbadmin: \(db) is not an arb database (not a SQLite file): pass --db with the right path"
            case .foreignSQLite:
                let connection = try Connection(path: db, mode: .readWriteCreate)
                try connection.execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')")
                expected = "arbadmin: \(db) is a SQLite database of another application (no arb application_id): pass --db with an arb database"
            case .newerSchema:
                db = try (try await AdminFixtures.scenarios.value).copy(to: directory)
                let connection = try Connection(path: db, mode: .readWrite)
                try connection.execute("PRAGMA user_version = 99")
                expected = "arbadmin: \(db) has schema version 99, newer than this build supports (\(Store.schemaVersion)): upgrade arb to open it"
            }
            let bytes = contentsOf(db)
            for command in Self.commands(db) {
                let output = try arbadmin(command)
                #expect(output.status == 1, "\(command): \(output.summary)")
                #expect(output.stderrLines == [expected], "\(command): \(output.stderr)")
                #expect(output.stdout.isEmpty, "\(command): \(output.stdout)")
                #expect(contentsOf(db) == bytes, "\(command) changed \(db)")
            }
            if kind == .missing {
                #expect(!FileManager.default.fileExists(atPath: db))
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty, "something was created")
            }
        }

        @Test("an unknown id: one line naming it, exit 1, nothing written")
        func unknownID() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let bytes = contentsOf(db)
            for command in [["show", "42", "--db", db], ["show", "42", "--db", db, "--json"],
                            ["close", "42", "--db", db, "--note", "x"], ["close", "42", "--db", db, "--note", "x", "--flattened"]] {
                let output = try arbadmin(command)
                #expect(output.status == 1, "\(command): \(output.summary)")
                #expect(output.stderrLines == ["arbadmin: no opportunity 42 in \(db): `arbadmin list` shows the ids"])
                #expect(output.stdout.isEmpty)
            }
            #expect(contentsOf(db) == bytes)
        }

        @Test("usage errors: one line saying what to type instead, exit 2, the file untouched", arguments: [
            (["list", "--since", "yesterday"], "--since yesterday is not a time; type an ISO 8601 time"),
            (["list", "--since", "2025-13-45T00:00:00Z"], "--since 2025-13-45T00:00:00Z is not a time"),
            (["list", "--state", "open"], "--state open is not a state; use one of Detected, InFlight"),
            (["list", "--outcome", "lost"], "--outcome lost is not an outcome; use one of hedged, one_sided"),
            (["list", "--state", "OneSided", "--outcome", "hedged"], "--outcome applies to Closed opportunities only"),
            (["list", "--limit", "0"], "--limit 0 would show nothing"),
            (["show", "seven"], "The value 'seven' is invalid for '<id>'"),
            (["close", "1", "--note", "  "], "--note is empty; say what you did"),
            (["close", "1"], "Missing expected argument '--note <note>'"),
            (["halt"], "Missing expected argument '--reason <reason>'"),
            (["export", "--format", "xlsx"], "The value 'xlsx' is invalid for '--format <format>'"),
            (["export", "--format", "json", "--since", "soon"], "--since soon is not a time"),
            (["reconcile", "--dry-run", "--force"], "--force takes over the lease, which a dry run never takes"),
            (["list", "--verbose"], "Unknown option '--verbose'"),
        ])
        func usageErrors(arguments: [String], message: String) async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let bytes = contentsOf(db)
            let output = try arbadmin(arguments + ["--db", db])
            #expect(output.status == 2, "\(output.summary)")
            #expect(output.stderrLines.count == 1, "\(output.stderr)")
            #expect(output.stderr.hasPrefix("arbadmin: \(message)"), "\(output.stderr)")
            #expect(output.stdout.isEmpty)
            #expect(contentsOf(db) == bytes)
        }

        @Test("an invalid --config is a config error: exit 2, one line naming the field")
        func badConfig() throws {
            let directory = TemporaryDirectory()
            let config = try writeConfig(directory, [("\"min_edge_bps\": 50", "\"min_edge_bps\": 12000")])
            let output = try arbadmin(["status", "--config", config, "--db", directory.path("arb.db")])
            #expect(output.status == 2, "\(output.summary)")
            #expect(output.stderrLines.count == 1)
            #expect(output.stderr.hasPrefix("arbadmin: config: detection.min_edge_bps is 12000"))
        }

        @Test("--db defaults as arb run's: the --config file's database, else arb.db in the working directory")
        func databaseDefault() async throws {
            let scenarios = try await AdminFixtures.scenarios.value
            let directory = TemporaryDirectory()
            let db = try scenarios.copy(to: directory)
            let config = try writeConfig(directory, [("\"database\": \"arb.db\"", "\"database\": \"\(db)\"")])
            let fromConfig = try arbadmin(["list", "--config", config, "--json"])
            #expect(fromConfig.status == 0, "\(fromConfig.summary)")
            #expect(try fromConfig.jsonArray().count == 5)
            let inWorkingDirectory = try runProduct("arbadmin", ["status"], currentDirectory: directory.url.path)
            #expect(inWorkingDirectory.status == 0, "\(inWorkingDirectory.summary)")
            #expect(inWorkingDirectory.stdout.hasPrefix("database    arb.db (id "))
            let empty = TemporaryDirectory()
            let missing = try runProduct("arbadmin", ["status"], currentDirectory: empty.url.path)
            #expect(missing.status == 1 && missing.stderr.hasPrefix("arbadmin: no database at arb.db"))
        }
    }
}

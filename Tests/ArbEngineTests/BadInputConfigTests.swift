import ArbTestSupport
import ArbEngine
import Foundation
import Testing

/// The files of one short demo run (`arb.db` with its WAL, both paper venue files, the alert log),
/// made once per test process and kept in memory: each bad-input case writes them into its own
/// directory, so "no data file was modified" is checked against real trading records.
actor SampleRun {
    static let shared = SampleRun()
    private var making: Task<[String: Data], Never>?

    func files() async -> [String: Data] {
        if let making { return await making.value }
        let task = Task { () -> [String: Data] in
            let directory = TemporaryDirectory()
            let result = try? await runBuilt("arb", ["run", "--db", directory.path("arb.db"), "--seed", "3", "--duration", "0.4",
                                                     "--log-level", "error"])
            guard result?.status == 0 else { return [:] }
            // The -shm file is SQLite's shared-memory index, rebuilt from the WAL by the next opener.
            return DirectorySnapshot(directory.url.path, ignoring: { $0.hasSuffix("-shm") }).files.mapValues(\.bytes)
        }
        making = task
        return await task.value
    }
}

/// A directory holding a copy of the sample run's files.
func directoryWithSampleRun(sourceLocation: SourceLocation = #_sourceLocation) async throws -> TemporaryDirectory {
    let directory = TemporaryDirectory()
    let files = await SampleRun.shared.files()
    #expect(files["arb.db"] != nil, "the sample demo run failed", sourceLocation: sourceLocation)
    for (name, bytes) in files {
        let url = directory.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try bytes.write(to: url)
    }
    return directory
}

/// Bad configs, run through the built `arb`: each is refused before anything is opened, with one
/// line naming the file or the field, exit 2 (usage/config), and the data files beside it untouched.
@Suite("Bad input: config files, through the built arb", .serialized, .exclusive)
struct BadInputConfigTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        /// The config file's bytes; nil: no file at all.
        let contents: Data?
        /// The whole refusal after `arb: `, with `{config}` standing for the config file's path:
        /// the specific error, not any error.
        let message: String
        var testDescription: String { name }

        init(_ name: String, _ text: String?, _ message: String) {
            self.name = name
            self.contents = text.map { Data($0.utf8) }
            self.message = message
        }

        init(_ name: String, bytes: Data, _ message: String) {
            self.name = name
            self.contents = bytes
            self.message = message
        }
    }

    static let cases: [Case] = [
        Case("missing", nil, "config: {config} does not exist; allowed a path to a JSON config file"),
        Case("empty", "", "config: {config} is empty; allowed a JSON object (see TraderConfig.demoJSON)"),
        Case("only whitespace", " \n\t\n", "config: {config} is empty; allowed a JSON object (see TraderConfig.demoJSON)"),
        Case("not JSON", "database = arb.db\n", "config: {config} is not JSON: line 1, column 1: expected a value, found 'd'"),
        Case("binary garbage", bytes: Data([0x00, 0xFF, 0xFE, 0x7B, 0x00, 0x80]),
             "config: {config} is not JSON: line 1, column 1: expected a value, found byte 0x00"),
        Case("invalid UTF-8 inside a string", bytes: Data(#"{"database": "a"#.utf8) + Data([0xC3, 0x28]) + Data(#""}"#.utf8),
             "config: {config} is not JSON: line 1, column 15: invalid UTF-8 inside a string"),
        Case("deeply nested", String(repeating: "[", count: 100_000),
             "config: {config} nests arrays/objects deeper than 32 levels at line 1, column 33; allowed at most 32"),
        Case("deeply nested objects", String(repeating: #"{"a":"#, count: 5_000),
             "config: {config} nests arrays/objects deeper than 32 levels at line 1, column 161; allowed at most 32"),
        Case("an array at the top", "[1, 2, 3]", "config: {config} holds an array at the top level; allowed a JSON object"),
        Case("wrong type: string for an integer", demoJSON(replacing: #""min_edge_bps": 50"#, with: #""min_edge_bps": "50""#),
             #"config: detection.min_edge_bps is "50"; allowed an integer 0…10000 (basis points of the $1 payout) [{config}]"#),
        Case("wrong type: string for a list", demoJSON(replacing: #""outcomes": ["YES", "NO"],"#, with: #""outcomes": "YES/NO","#),
             #"config: events[0].outcomes is "YES/NO"; allowed exactly two distinct non-empty strings without '|', ':', "#
                 + #"spaces at either end or control characters, e.g. ["YES", "NO"] [{config}]"#),
        Case("wrong type: number for a venue section", demoJSON(replacing: #""kind": "paper""#, with: #""kind": 7"#),
             #"config: venues.kalshi.kind is 7; allowed "paper", "kalshi" or "polymarket" [{config}]"#),
        Case("unknown venue", demoJSON(replacing: #""kalshi": {"YES": "KXFED-25DEC-CUT-YES""#,
                                       with: #""kraken": {"YES": "KXFED-25DEC-CUT-YES""#),
             "config: events[0].instruments.kraken names an unknown venue; allowed a venue configured under venues: kalshi, polymarket [{config}]"),
        Case("negative size", demoJSON(replacing: #""max_size": "25""#, with: #""max_size": -25"#),
             #"config: detection.max_size is -25; allowed 0.01…1000000 contracts with at most 2 decimals, as a number or a decimal string like "12.5" [{config}]"#),
        Case("zero size", demoJSON(replacing: #""min_size": "1""#, with: #""min_size": "0""#),
             #"config: detection.min_size is "0"; allowed 0.01…1000000 contracts with at most 2 decimals, as a number or a decimal string like "12.5" [{config}]"#),
        Case("zero exposure limit", demoJSON(replacing: #""max_exposure_per_event_usd": "500.00""#,
                                             with: #""max_exposure_per_event_usd": 0"#),
             #"config: risk.max_exposure_per_event_usd is 0; allowed 0.000001…1000000000.00 dollars with at most 6 decimals, "#
                 + #"as a number or a decimal string like "250.00" [{config}]"#),
        Case("min edge above 10000", demoJSON(replacing: #""min_edge_bps": 50"#, with: #""min_edge_bps": 10001"#),
             "config: detection.min_edge_bps is 10001; allowed 0…10000 (basis points of the $1 payout) [{config}]"),
        Case("min edge below 0", demoJSON(replacing: #""min_edge_bps": 50"#, with: #""min_edge_bps": -1"#),
             "config: detection.min_edge_bps is -1; allowed 0…10000 (basis points of the $1 payout) [{config}]"),
        Case("min edge a huge number", demoJSON(replacing: #""min_edge_bps": 50"#, with: #""min_edge_bps": 1e400"#),
             "config: detection.min_edge_bps is 1e400; allowed an integer 0…10000 (basis points of the $1 payout) [{config}]"),
        Case("duplicate event ids", demoJSON(replacing: #""event_id": "NBA-FINALS-G7""#, with: #""event_id": "FED-DEC-CUT""#),
             #"config: events[1].event_id is "FED-DEC-CUT"; allowed an id not used by another event (events[0] has it) [{config}]"#),
        Case("an instrument used twice", demoJSON(replacing: #""CELTICS": "KXNBAG7-BOS""#, with: #""CELTICS": "KXFED-25DEC-CUT-YES""#),
             #"config: events[1].instruments.kalshi.CELTICS is "KXFED-25DEC-CUT-YES"; allowed an instrument of venue kalshi "#
                 + #"used only once (events[0].instruments.kalshi.YES already has it) [{config}]"#),
        Case("a webhook URL with a token in a world-readable file",
             demoJSON(replacing: #""console": false"#,
                      with: #""console": false, "webhook_url": "https://hooks.example.com/services/T0/B0/SECRETTOKEN""#),
             #"config: alerts.webhook_url is "https://hooks.example.com/services/REDACTED", a secret in a file that group or "#
                 + "others can read (mode 644); allowed only in a file private to its owner (chmod 600 {config}), "
                 + "or set ARB_WEBHOOK_URL in the environment instead [{config}]"),
    ]

    @Test("a bad config is one line naming the problem, exit 2, and no data file is touched", arguments: cases)
    func refused(_ test: Case) async throws {
        let directory = try await directoryWithSampleRun()
        let config = directory.path("config.json")
        if let contents = test.contents {
            #expect(FileManager.default.createFile(atPath: config, contents: contents, attributes: [.posixPermissions: 0o644]))
        }
        let before = DirectorySnapshot(directory.url.path)
        let result = try await runBuilt("arb", ["run", "--config", config, "--db", directory.path("arb.db"), "--duration", "0.3"],
                                  timeoutSeconds: 20)
        expectOneLineRefusal(result, status: 2, mentions: ["arb: config: "])
        #expect(result.stderr == "arb: " + test.message.replacingOccurrences(of: "{config}", with: config) + "\n")
        #expect(!result.stderr.contains("SECRETTOKEN"), "the refusal printed the token")
        let after = DirectorySnapshot(directory.url.path)
        #expect(after.differences(from: before).isEmpty, "\(after.differences(from: before))")
    }

    @Test("a bad argument to arb is one line naming it and the help to read, exit 2 — not ArgumentParser's usage block and 64",
          arguments: [
              (["run", "--duration", "abc"], "arb: The value 'abc' is invalid for '--duration <duration>'; see `arb run --help`"),
              (["run", "--bogus"], "arb: Unknown option '--bogus'; see `arb run --help`"),
              (["run", "--duration", "0"], "arb: --duration must be a number of seconds above 0; see `arb run --help`"),
              (["simulate", "--kill-every", "1"],
               "arb: --kill-every must be at least 2 (a child must finish a scenario before it is killed); see `arb simulate --help`"),
              (["bogus"], "arb: Unexpected argument 'bogus'; see `arb --help`"),
          ])
    func badArgument(_ arguments: [String], _ message: String) async throws {
        let directory = TemporaryDirectory()
        let result = try await runBuilt("arb", arguments, currentDirectory: directory.url.path, timeoutSeconds: 20)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr == message + "\n")
        #expect(result.stdout.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty, "a refused run left files")
    }

    @Test("the same webhook URL in a file only its owner can read is accepted")
    func webhookInPrivateFile() async throws {
        let directory = TemporaryDirectory()
        let config = directory.path("config.json")
        let json = demoJSON(replacing: #""console": false"#,
                            with: #""console": false, "webhook_url": "https://hooks.example.com/services/T0/B0/SECRETTOKEN""#)
        #expect(FileManager.default.createFile(atPath: config, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600]))
        #expect(try TraderConfig.load(path: config).alerts.webhookURL?.hasSuffix("SECRETTOKEN") == true)
        // A URL with nothing to redact is no secret, and may sit in a shared file.
        let plain = directory.path("plain.json")
        let plainJSON = demoJSON(replacing: #""console": false"#, with: #""console": false, "webhook_url": "https://hooks.example.com/x""#)
        #expect(FileManager.default.createFile(atPath: plain, contents: Data(plainJSON.utf8), attributes: [.posixPermissions: 0o644]))
        #expect(try TraderConfig.load(path: plain).alerts.webhookURL == "https://hooks.example.com/x")
    }

    @Test("a FIFO as the config is refused at once instead of waiting for a writer forever")
    func fifo() async throws {
        let directory = try await directoryWithSampleRun()
        let fifo = directory.path("config.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let before = DirectorySnapshot(directory.url.path)
        // No writer ever opens the FIFO: an arb that waited on it would be killed at runBuilt's
        // deadline, which expectOneLineRefusal reports (a signal, not exit 2 with its line).
        let result = try await runBuilt("arb", ["run", "--config", fifo, "--db", directory.path("arb.db")], timeoutSeconds: 30)
        expectOneLineRefusal(result, status: 2, mentions: ["arb: config: \(fifo) is not a regular file"])
        #expect(result.stderr == "arb: config: \(fifo) is not a regular file; allowed a JSON config file\n")
        #expect(DirectorySnapshot(directory.url.path).differences(from: before).isEmpty)
    }

    @Test("a config the user cannot read (chmod 000, run as nobody: root reads anything) is refused",
          .enabled(if: canRunAsNobody || getuid() != 0, "needs root with setpriv, or a non-root user"))
    func unreadable() async throws {
        let directory = try await directoryWithSampleRun()
        let config = directory.path("config.json")
        #expect(FileManager.default.createFile(atPath: config, contents: Data(TraderConfig.demoJSON.utf8),
                                               attributes: [.posixPermissions: 0o000]))
        let before = DirectorySnapshot(directory.url.path)
        let result = try await runBuilt("arb", ["run", "--config", config, "--db", directory.path("arb.db")],
                                  currentDirectory: "/", asNobody: getuid() == 0, timeoutSeconds: 20)
        expectOneLineRefusal(result, status: 2, mentions: ["arb: config: \(config) cannot be read (permission denied)"])
        #expect(result.stderr == "arb: config: \(config) cannot be read (permission denied); allowed a readable JSON config file\n")
        #expect(DirectorySnapshot(directory.url.path).differences(from: before).isEmpty)
    }

    @Test("a config that opens but cannot be read (/proc/self/mem: EIO, even for root) is refused",
          .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/mem")))
    func unreadableForRoot() async throws {
        let directory = try await directoryWithSampleRun()
        let before = DirectorySnapshot(directory.url.path)
        let result = try await runBuilt("arb", ["run", "--config", "/proc/self/mem", "--db", directory.path("arb.db")], timeoutSeconds: 20)
        expectOneLineRefusal(result, status: 2, mentions: ["arb: config: /proc/self/mem cannot be read"])
        #expect(result.stderr == "arb: config: /proc/self/mem cannot be read (Input/output error); allowed a readable JSON config file\n")
        #expect(DirectorySnapshot(directory.url.path).differences(from: before).isEmpty)
    }

    @Test("a directory, or a file beyond the 4 MiB limit, is refused")
    func notAConfigFile() async throws {
        let directory = try await directoryWithSampleRun()
        let huge = directory.path("huge.json")
        #expect(FileManager.default.createFile(atPath: huge, contents: Data(repeating: 0x20, count: TraderConfig.maxConfigFileBytes + 1)))
        try FileManager.default.createDirectory(atPath: directory.path("config.d"), withIntermediateDirectories: false)
        let before = DirectorySnapshot(directory.url.path)
        let asDirectory = try await runBuilt("arb", ["run", "--config", directory.path("config.d"), "--db", directory.path("arb.db")])
        expectOneLineRefusal(asDirectory, status: 2, mentions: ["arb: config: ", "is a directory"])
        #expect(asDirectory.stderr == "arb: config: \(directory.path("config.d")) is a directory; allowed a JSON config file\n")
        let tooBig = try await runBuilt("arb", ["run", "--config", huge, "--db", directory.path("arb.db")])
        expectOneLineRefusal(tooBig, status: 2, mentions: ["arb: config: ", "allowed at most \(TraderConfig.maxConfigFileBytes) bytes"])
        #expect(tooBig.stderr == "arb: config: \(huge) is \(TraderConfig.maxConfigFileBytes + 1) bytes; allowed at most \(TraderConfig.maxConfigFileBytes) bytes\n")
        #expect(DirectorySnapshot(directory.url.path).differences(from: before).isEmpty)
    }
}

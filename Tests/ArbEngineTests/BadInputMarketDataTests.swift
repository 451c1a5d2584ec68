import ArbTestSupport
import ArbEngine
import Foundation
import Testing

/// Bad market data, replayed through the built `arb`: a bad line is counted by reason, reported
/// once with its line number, skipped, and the run goes on and exits 0; a file that cannot be
/// replayed at all is refused before anything is created.
@Suite("Bad input: market data, through the built arb", .serialized, .exclusive)
struct BadInputMarketDataTests {
    static func quote(_ ts: String, venue: String = #""kalshi""#, instrument: String = #""KXFED-25DEC-CUT-YES""#,
                      bid: String = #""0.40""#, bidSize: String = #""10""#, ask: String = #""0.42""#, askSize: String = #""10""#) -> String {
        #"{"ts_ms": \#(ts), "venue": \#(venue), "instrument": \#(instrument), "bid": \#(bid), "bid_size": \#(bidSize), "ask": \#(ask), "ask_size": \#(askSize)}"#
    }

    /// Each line with the reason it must be skipped for (nil: a good quote).
    static let lines: [(String, QuoteSkipReason?)] = [
        (quote("1000"), nil),
        // Malformed.
        (#"{"ts_ms": 1001, "venue": "kalshi""#, .notJSON),
        ("[1, 2, 3]", .notJSON),
        ("\u{1}\u{2}garbage\u{7F}", .notJSON),
        (quote("1002", ask: "NaN"), .notJSON),
        (#"{"ts_ms": 1002, "x": "# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}", .notJSON),
        ("{}", .missingField),
        (#"{"ts_ms": 1003, "venue": "kalshi", "instrument": "KXFED-25DEC-CUT-YES", "bid": "0.40", "bid_size": "10"}"#, .missingField),
        (#"{"ts_ms": 1004, "ts_ms": 1004, "venue": "kalshi", "instrument": "KXFED-25DEC-CUT-YES", "bid": "0.40", "bid_size": "10", "ask": "0.42", "ask_size": "10"}"#,
         .duplicateField),
        (quote("1005", venue: "7"), .badIdentifier),
        (quote("1006", instrument: #""""#), .badIdentifier),
        // Timestamps: not integers, huge, negative, and running backwards.
        (quote(#""1007""#), .badTimestamp),
        (quote("1e30"), .badTimestamp),
        (quote("99999999999999999999999"), .badTimestamp),
        (quote("-5"), .badTimestamp),
        (quote("500"), .timestampBackwards),
        // Prices ≤ 0, ≥ 1, NaN, infinite, huge, too fine.
        (quote("1010", ask: #""0""#), .badPrice),
        (quote("1011", ask: #""1""#), .badPrice),
        (quote("1012", ask: "1.5"), .badPrice),
        (quote("1013", bid: #""-0.40""#), .badPrice),
        (quote("1014", bid: #""NaN""#), .badPrice),
        (quote("1015", ask: #""Infinity""#), .badPrice),
        (quote("1016", ask: "1e400"), .badPrice),
        (quote("1017", ask: "0.000000000000000000000000000001"), .badPrice),
        (quote("1018", bid: #""0.12345""#), .badPrice),
        // Sizes: negative, huge.
        (quote("1019", askSize: #""-1""#), .badSize),
        (quote("1020", bidSize: "1e30"), .badSize),
        (quote("1021", bidSize: #""99999999999999999999999999""#), .badSize),
        // A crossed book, an unknown venue, an unknown instrument.
        (quote("1022", bid: #""0.50""#, ask: #""0.45""#), .crossedBook),
        (quote("1023", venue: #""kraken""#), .unknownVenue),
        (quote("1024", instrument: #""KXFED-25DEC-HIKE-YES""#), .unknownInstrument),
        (quote("1025", venue: #""polymarket""#, instrument: #""KXFED-25DEC-CUT-YES""#), .unknownInstrument),
        // A line longer than the reader holds.
        (#"{"ts_ms": 1026, "pad": ""# + String(repeating: "x", count: QuoteFileReader.maxLineBytes + 10) + #""}"#, .lineTooLong),
        // The other side of the pair: YES at 0.42 on kalshi + NO at 0.52 on polymarket cross.
        ("", nil),
        (quote("1030", venue: #""polymarket""#, instrument: #""PM-FED-DEC-CUT-NO""#, bid: #""0.50""#, ask: #""0.52""#), nil),
    ]

    @Test("every kind of bad line is counted by reason, reported with its line number and skipped; the good lines trade; exit 0")
    func badLinesSkipped() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let file = directory.path("quotes.jsonl")
        try (Self.lines.map(\.0).joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        let result = try await runBuilt("arb", ["run", "--db", db, "--market-data", file, "--log-level", "info"], timeoutSeconds: 60)
        expectNoTrap(result)
        #expect(result.status == 0, "\(result.stderr.suffix(1_000))")

        let expected = Dictionary(Self.lines.compactMap(\.1).map { ($0.rawValue, 1) }, uniquingKeysWith: +)
        let skipped = expected.values.reduce(0, +)
        let good = Self.lines.filter { !$0.0.isEmpty && $0.1 == nil }.count
        #expect(result.stdout.contains("quotes:               \(good) (\(skipped) skipped), candidates 1"), "\(result.stdout)")

        // One warning per bad line, naming its number and reason.
        for (index, (_, reason)) in Self.lines.enumerated() {
            guard let reason else { continue }
            #expect(result.stderr.contains("market data: \(file) line \(index + 1): \(reason.rawValue)"),
                    "line \(index + 1) (\(reason.rawValue)) was not reported")
        }
        // The closing count, by reason: "N lines: G accepted, S skipped (reason n, …)".
        let stats = try #require(result.stderr.split(separator: "\n").first { $0.contains(" lines: ") && $0.contains(" accepted, ") })
        #expect(stats.contains("\(good + skipped) lines: \(good) accepted, \(skipped) skipped"), "\(stats)")
        let byReason = stats.split(separator: "(").last.map { $0.dropLast() }?.split(separator: ",").reduce(into: [String: Int]()) {
            let words = $1.split(separator: " ")
            if words.count == 2, let count = Int(words[1]) { $0[String(words[0])] = count }
        }
        #expect(byReason == expected, "\(stats)")
        #expect(QuoteSkipReason.allCases.allSatisfy { expected[$0.rawValue] != nil }, "a reason is not exercised")

        // The good pair traded, and the files are sound.
        let violations = try Invariants.check(
            databasePath: db,
            paperFiles: ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")],
            options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test("a replay file that is missing or a directory is refused at once: one line, exit 2, nothing created")
    func unreadableFile() async throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("quotes.d"), withIntermediateDirectories: false)
        let before = DirectorySnapshot(directory.url.path)
        let missing = try await runBuilt("arb", ["run", "--db", directory.path("arb.db"), "--market-data", directory.path("nope.jsonl")])
        expectOneLineRefusal(missing, status: 2, mentions: ["arb: market data: \(directory.path("nope.jsonl")) does not exist"])
        let folder = try await runBuilt("arb", ["run", "--db", directory.path("arb.db"), "--market-data", directory.path("quotes.d")])
        expectOneLineRefusal(folder, status: 2, mentions: ["arb: market data: ", "is a directory"])
        #expect(DirectorySnapshot(directory.url.path).differences(from: before).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory.path("arb.db")), "a database was created for a refused run")
    }

    @Test("a replay file the user cannot read (run as nobody) is refused: one line, exit 2",
          .enabled(if: canRunAsNobody, "needs root with setpriv to run arb as another user"))
    func permissionDenied() async throws {
        let directory = TemporaryDirectory()
        let file = directory.path("quotes.jsonl")
        #expect(FileManager.default.createFile(atPath: file, contents: Data(Self.quote("1").utf8), attributes: [.posixPermissions: 0o600]))
        let result = try await runBuilt("arb", ["run", "--db", "/nonexistent/arb.db", "--market-data", file], currentDirectory: "/",
                                  asNobody: true)
        expectOneLineRefusal(result, status: 2, mentions: ["arb: market data: \(file) cannot be read (permission denied)"])
    }
}

import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

/// The demo JSON with the first occurrence of `old` replaced (a test fails if `old` is absent, so a
/// mutation can never silently test the unmodified demo).
func demoJSON(replacing old: String, with new: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    let json = TraderConfig.demoJSON
    guard let range = json.range(of: old) else {
        Issue.record("the demo JSON has no \(old.debugDescription)", sourceLocation: sourceLocation)
        return json
    }
    return json.replacingCharacters(in: range, with: new)
}

/// Decodes and returns the error, or records an issue if decoding succeeded.
func configError(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        _ = try TraderConfig.decode(json: json, source: "test.json")
        Issue.record("decoding succeeded; expected an error", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// A small valid config with every optional key left out.
let minimalConfigJSON = #"""
{
  "events": [{"event_id": "E1", "outcomes": ["YES", "NO"],
              "instruments": {"a": {"YES": "A-Y", "NO": "A-N"}, "b": {"YES": "B-Y", "NO": "B-N"}}}],
  "venues": {
    "a": {"kind": "paper", "fee": "free", "paper": {"fill_model": {
      "full_fill_percent": 100, "partial_fill_percent": 0, "rest_percent": 0, "reject_percent": 0,
      "ambiguous_submit_percent": 0, "late_fill_percent": 0, "cancel_fail_percent": 0,
      "latency_ms_min": 0, "latency_ms_max": 0, "late_fill_delay_ms_max": 0}}},
    "b": {"kind": "paper", "fee": "kalshi_maker", "paper": {"state_file": "state/b.db", "fill_model": {
      "full_fill_percent": 100, "partial_fill_percent": 0, "rest_percent": 0, "reject_percent": 0,
      "ambiguous_submit_percent": 0, "late_fill_percent": 0, "cancel_fail_percent": 0,
      "latency_ms_min": 0, "latency_ms_max": 0, "late_fill_delay_ms_max": 0}}}
  },
  "detection": {"min_edge_bps": 0, "min_size": 0.1, "max_size": "0.1", "quote_staleness_ms": 1},
  "execution": {"time_in_force": "ioc", "fill_timeout_ms": 1},
  "risk": {"max_exposure_per_event_usd": 250.000001, "max_exposure_total_usd": "250.000001",
           "max_one_sided_per_day": 1, "cooldown_ms": 0, "one_sided_cooldown_ms": 0}
}
"""#

@Suite("Config: the built-in demo")
struct ConfigDemoTests {
    @Test("the demo decodes and holds the documented values")
    func demoDecodes() throws {
        let config = try TraderConfig.decode(json: TraderConfig.demoJSON, source: "demo")
        #expect(config == TraderConfig.demo())
        #expect(config.events.map(\.eventID) == ["FED-DEC-CUT", "NBA-FINALS-G7", "CPI-NOV-ABOVE-3",
                                                 "SENATE-2026-CONTROL", "BTC-100K-DEC31"])
        #expect(config.events.allSatisfy { $0.venueNames == ["kalshi", "polymarket"] })
        #expect(config.venues["kalshi"]?.fee == .kalshiTaker)
        #expect(config.venues["polymarket"]?.fee == .polymarketTaker(rateBps: 300, exponent: 1))
        #expect(config.events[3].fees == ["polymarket": .polymarketTaker(rateBps: 0, exponent: 1)])
        #expect(config.feeModel(event: config.events[3], venue: "polymarket") == .polymarketTaker(rateBps: 0, exponent: 1))
        #expect(config.feeModel(event: config.events[0], venue: "polymarket") == .polymarketTaker(rateBps: 300, exponent: 1))
        let model = try #require(config.venues["kalshi"]?.paper?.fillModel)
        let outcomePercents: [Int] = [model.fullFillPercent, model.partialFillPercent, model.restPercent,
                                      model.rejectPercent, model.ambiguousSubmitPercent]
        #expect(outcomePercents == [66, 12, 12, 6, 4])
        #expect(model.lateFillPercent == 40 && model.cancelFailPercent == 15)
        #expect(model.latencyMillisecondsMin == 1 && model.latencyMillisecondsMax == 4)
        #expect(model.lateFillDelayMillisecondsMax == 150)
        #expect(config.venues["kalshi"]?.paper?.fillModel.seed != config.venues["polymarket"]?.paper?.fillModel.seed)
        #expect(config.detection == DetectionConfig(minEdgeBps: 50, minSize: Quantity(contracts: 1),
                                                    maxSize: Quantity(contracts: 25), quoteStalenessMilliseconds: 400))
        #expect(config.execution == ExecutionConfig(timeInForce: .gtc, fillTimeoutMilliseconds: 200))
        #expect(config.risk == RiskConfig(maxExposurePerEvent: Money(micros: 500_000_000),
                                          maxExposureTotal: Money(micros: 2_000_000_000), maxOneSidedClosesPerDay: 1000,
                                          cooldownMilliseconds: 300, oneSidedCooldownMilliseconds: 1500))
        #expect(config.alerts == AlertConfig(console: false, filePath: "data/alerts.log", webhookURL: nil))
        #expect(config.databasePath == "arb.db")
        #expect(config.durability == .full)
    }

    @Test("instrumentsByVenue lists every instrument of every event")
    func instrumentsByVenue() {
        let known = TraderConfig.demo().instrumentsByVenue
        #expect(known.keys.sorted() == ["kalshi", "polymarket"])
        #expect(known["kalshi"]?.count == 10)
        #expect(known["kalshi"]?.contains("KXNBAG7-BOS") == true)
        #expect(known["polymarket"]?.contains("KXNBAG7-BOS") == false)
    }
}

@Suite("Config: refusals name the field, the value and what is allowed")
struct ConfigRefusalTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let json: String
        let expected: [String]
        var testDescription: String { name }

        init(_ name: String, _ old: String, _ new: String, _ expected: String...) {
            self.name = name
            self.json = demoJSON(replacing: old, with: new)
            self.expected = expected
        }
    }

    static let cases: [Case] = [
        Case("edge above 10000", #""min_edge_bps": 50"#, #""min_edge_bps": 12000"#,
             "detection.min_edge_bps is 12000; allowed 0…10000 (basis points of the $1 payout)"),
        Case("negative edge", #""min_edge_bps": 50"#, #""min_edge_bps": -1"#, "detection.min_edge_bps is -1", "0…10000"),
        Case("typo in a key", #""min_edge_bps": 50"#, #""min_edge_bp": 50"#,
             "detection.min_edge_bp is not a known key", "min_edge_bps, min_size, max_size, quote_staleness_ms"),
        Case("typo at the top", #""risk": {"#, #""risks": {"#, "risks is not a known key", "risk"),
        Case("string for an integer", #""min_edge_bps": 50"#, #""min_edge_bps": "50""#,
             #"detection.min_edge_bps is "50"; allowed an integer 0…10000"#),
        Case("fraction for an integer", #""fill_timeout_ms": 200"#, #""fill_timeout_ms": 200.5"#,
             "execution.fill_timeout_ms is 200.5", "integer"),
        Case("integer overflow", #""fill_timeout_ms": 200"#, #""fill_timeout_ms": 99999999999999999999999"#,
             "execution.fill_timeout_ms is 99999999999999999999999", "1…86400000"),
        Case("fill timeout zero", #""fill_timeout_ms": 200"#, #""fill_timeout_ms": 0"#,
             "execution.fill_timeout_ms is 0; allowed 1…86400000 (ms)"),
        Case("unknown venue in an event", #""kalshi": {"YES": "KXFED-25DEC-CUT-YES""#, #""kraken": {"YES": "KXFED-25DEC-CUT-YES""#,
             "events[0].instruments.kraken names an unknown venue", "kalshi, polymarket"),
        Case("venue kind not paper", #""kind": "paper""#, #""kind": "live""#,
             #"venues.kalshi.kind is "live"; allowed "paper", "kalshi" or "polymarket""#),
        Case("zero size", #""min_size": "1""#, #""min_size": "0""#, #"detection.min_size is "0""#, "0.01…"),
        Case("negative size", #""max_size": "25""#, #""max_size": -25"#, "detection.max_size is -25", "0.01…"),
        Case("size with 3 decimals", #""min_size": "1""#, #""min_size": "0.001""#, #"detection.min_size is "0.001""#,
             "at most 2 decimals"),
        Case("size in exponent form", #""max_size": "25""#, #""max_size": 2.5e1"#, "detection.max_size is 2.5e1"),
        Case("min size above max", #""min_size": "1""#, #""min_size": "30""#,
             "detection.min_size is 30 (more than detection.max_size 25)"),
        Case("duplicate event id", #""event_id": "NBA-FINALS-G7""#, #""event_id": "FED-DEC-CUT""#,
             #"events[1].event_id is "FED-DEC-CUT""#, "events[0]"),
        Case("instrument in two events", #""CELTICS": "KXNBAG7-BOS""#, #""CELTICS": "KXFED-25DEC-CUT-YES""#,
             #"events[1].instruments.kalshi.CELTICS is "KXFED-25DEC-CUT-YES""#, "events[0].instruments.kalshi.YES"),
        Case("instrument twice in one event", #""NO": "KXFED-25DEC-CUT-NO""#, #""NO": "KXFED-25DEC-CUT-YES""#,
             "events[0].instruments.kalshi.NO", "events[0].instruments.kalshi.YES"),
        Case("instruments closed early", #""NO": "KXFED-25DEC-CUT-NO"},"#, #""NO": "KXFED-25DEC-CUT-NO"}}, "x": {"#,
             "events[0].x is not a known key", "event_id, outcomes, instruments, fees"),
        Case("outcome missing at a venue", #"{"YES": "PM-FED-DEC-CUT-YES", "NO": "PM-FED-DEC-CUT-NO"}"#,
             #"{"YES": "PM-FED-DEC-CUT-YES"}"#, "events[0].instruments.polymarket.NO is missing"),
        Case("extra outcome at a venue", #""NO": "PM-FED-DEC-CUT-NO"}"#, #""NO": "PM-FED-DEC-CUT-NO", "MAYBE": "PM-X"}"#,
             "events[0].instruments.polymarket.MAYBE is not an outcome of this event", #""YES", "NO""#),
        Case("one outcome", #""outcomes": ["DEM", "REP"]"#, #""outcomes": ["DEM"]"#,
             #"events[3].outcomes is ["DEM"]; allowed exactly two distinct non-empty strings"#),
        Case("same outcome twice", #""outcomes": ["DEM", "REP"]"#, #""outcomes": ["DEM", "DEM"]"#,
             #"events[3].outcomes is ["DEM", "DEM"]"#),
        Case("empty outcome", #""outcomes": ["DEM", "REP"]"#, #""outcomes": ["", "REP"]"#, #"events[3].outcomes is ["", "REP"]"#),
        Case("outcome percentages off", #""ambiguous_submit_percent": 4"#, #""ambiguous_submit_percent": 10"#,
             "venues.kalshi.paper.fill_model has outcome percentages summing to 106", "exactly 100"),
        Case("percentage above 100", #""late_fill_percent": 40"#, #""late_fill_percent": 101"#,
             "venues.kalshi.paper.fill_model.late_fill_percent is 101; allowed 0…100 (percent)"),
        Case("latency min above max", #""latency_ms_min": 1"#, #""latency_ms_min": 9"#,
             "venues.kalshi.paper.fill_model.latency_ms_min is 9 (more than latency_ms_max 4)"),
        Case("negative delay", #""late_fill_delay_ms_max": 150"#, #""late_fill_delay_ms_max": -1"#,
             "venues.kalshi.paper.fill_model.late_fill_delay_ms_max is -1"),
        Case("zero exposure", #""max_exposure_per_event_usd": "500.00""#, #""max_exposure_per_event_usd": "0""#,
             #"risk.max_exposure_per_event_usd is "0""#, "dollars"),
        Case("negative exposure", #""max_exposure_total_usd": "2000.00""#, #""max_exposure_total_usd": -5"#,
             "risk.max_exposure_total_usd is -5"),
        Case("exposure with 7 decimals", #""max_exposure_total_usd": "2000.00""#, #""max_exposure_total_usd": "1.0000001""#,
             #"risk.max_exposure_total_usd is "1.0000001""#, "at most 6 decimals"),
        Case("no one-sided closes allowed", #""max_one_sided_per_day": 1000"#, #""max_one_sided_per_day": 0"#,
             "risk.max_one_sided_per_day is 0; allowed 1…"),
        Case("negative cooldown", #""cooldown_ms": 300"#, #""cooldown_ms": -300"#, "risk.cooldown_ms is -300; allowed 0…"),
        Case("time in force", #""time_in_force": "gtc""#, #""time_in_force": "day""#,
             #"execution.time_in_force is "day"; allowed "ioc", "fok" or "gtc""#),
        Case("durability", #""durability": "full""#, #""durability": "fast""#,
             #"durability is "fast"; allowed "full" or "normal""#),
        Case("fee name", #""fee": "kalshi_taker""#, #""fee": "kalshi""#, #"venues.kalshi.fee is "kalshi"; allowed "kalshi_taker""#),
        Case("fee rate", #""rate_bps": 300"#, #""rate_bps": 10001"#,
             "venues.polymarket.fee.polymarket_taker.rate_bps is 10001; allowed 0…10000"),
        Case("fee exponent", #""rate_bps": 300, "exponent": 1"#, #""rate_bps": 300, "exponent": 5"#,
             "venues.polymarket.fee.polymarket_taker.exponent is 5; allowed 0…4"),
        Case("fee override for a foreign venue", #""fees": {"polymarket""#, #""fees": {"kraken""#,
             "events[3].fees.kraken is not a venue of this event"),
        Case("duplicate key", #""console": false"#, #""console": false, "console": true"#, "alerts.console appears twice"),
        Case("console not a bool", #""console": false"#, #""console": "no""#, #"alerts.console is "no"; allowed true or false"#),
        Case("key with a stray underscore", #""quote_staleness_ms": 400"#, #""quote_staleness_ms_": 400"#,
             "detection.quote_staleness_ms_ is not a known key"),
        Case("event id with a bar", #""event_id": "FED-DEC-CUT""#, #""event_id": "FED|CUT""#, #"events[0].event_id is "FED|CUT""#),
        Case("odd key quoted in the path", #""min_edge_bps": 50"#, #""min edge": 50"#, #"detection["min edge"] is not a known key"#),
        Case("newline in a key stays one line", #""min_edge_bps": 50"#, #""min\nedge": 50"#, #"detection["min\nedge"]"#),
        Case("trailing comma", #""console": false"#, #""console": false,"#, "test.json is not JSON: line", "expected a string key"),
    ]

    @Test("each bad config is refused with a one-line message naming the field and value", arguments: cases)
    func refused(_ testCase: Case) {
        guard let error = configError(testCase.json) else { return }
        let message = error.description
        for part in testCase.expected {
            #expect(message.contains(part), "\(message)")
        }
        #expect(!message.contains("\n"))
        #expect(message.hasPrefix("config: "))
        #expect(message.contains("allowed") || message.contains("not JSON"), "\(message)")
    }

    @Test("the message format is exactly: config: <field> <problem>; allowed <what> [<source>]")
    func exactFormat() {
        let error = configError(demoJSON(replacing: #""min_edge_bps": 50"#, with: #""min_edge_bps": 12000"#))
        #expect(error == ConfigError(source: "test.json", field: "detection.min_edge_bps",
                                     detail: "is 12000; allowed 0…10000 (basis points of the $1 payout)"))
        #expect(error?.description
            == "config: detection.min_edge_bps is 12000; allowed 0…10000 (basis points of the $1 payout) [test.json]")
    }

    @Test("a missing required key is named")
    func missingKey() {
        let json = demoJSON(replacing: #""max_size": "25","#, with: #""max_size": "25""#)
            .replacingOccurrences(of: #""quote_staleness_ms": 400"#, with: "")
        #expect(configError(json)?.description.contains("detection.quote_staleness_ms is missing; allowed an integer 1…") == true)
    }

    @Test("an event that names only one venue is refused")
    func oneVenue() {
        let json = demoJSON(replacing: #""NO": "KXFED-25DEC-CUT-NO"},"#, with: #""NO": "KXFED-25DEC-CUT-NO"}"#)
            .replacingOccurrences(of: #""polymarket": {"YES": "PM-FED-DEC-CUT-YES", "NO": "PM-FED-DEC-CUT-NO"}"#, with: "")
        let message = configError(json)?.description ?? ""
        #expect(message.contains("events[0].instruments names 1 venue (kalshi); allowed exactly two venues"), "\(message)")
    }

    @Test("a webhook URL that is not http(s) is refused without echoing what may be a token")
    func webhook() {
        for bad in ["ftp://hooks.example.com/T0KEN", "hooks.example.com/T0KEN", "https:///T0KEN", "https://host/a b"] {
            let json = demoJSON(replacing: #""console": false"#, with: #""console": false, "webhook_url": "\#(bad)""#)
            let message = configError(json)?.description ?? ""
            #expect(message.contains("alerts.webhook_url"), "\(message)")
            #expect(message.contains("http:// or https://"), "\(message)")
            #expect(!message.contains("T0KEN"), "\(message)")
        }
        let good = demoJSON(replacing: #""console": false"#, with: #""console": false, "webhook_url": "https://hooks.example.com/x""#)
        #expect((try? TraderConfig.decode(json: good, source: "t"))?.alerts.webhookURL == "https://hooks.example.com/x")
    }

    @Test("the top level must be an object")
    func topLevel() {
        #expect(configError("[1, 2]")?.description == "config: test.json holds an array at the top level; allowed a JSON object")
        #expect(configError("   \n ")?.description.contains("test.json is empty") == true)
        #expect(configError(#"{"events": []}"#)?.description.contains("venues is missing") == true)
    }
}

@Suite("Config: defaults, exact numbers and paths")
struct ConfigDefaultsTests {
    @Test("absent optional keys take their documented defaults")
    func defaults() throws {
        let config = try TraderConfig.decode(json: minimalConfigJSON, source: "minimal")
        #expect(config.databasePath == "arb.db")
        #expect(config.durability == .full)
        #expect(config.alerts == AlertConfig(console: true, filePath: "data/alerts.log", webhookURL: nil))
        #expect(config.venues["a"]?.paper?.stateFile == nil)
        #expect(config.venues["b"]?.paper?.stateFile == "state/b.db")
        #expect(config.venues["a"]?.paper?.fillModel.seed == 0)
        #expect(config.events[0].fees.isEmpty)
        #expect(config.venues["b"]?.fee == .kalshiMaker)
        #expect(config.venues["a"]?.fee == .free)
    }

    @Test("alerts.file null turns the file sink off")
    func alertFileOff() throws {
        let json = minimalConfigJSON.replacingOccurrences(
            of: #""events": ["#, with: #""alerts": {"file": null, "console": false}, "events": ["#)
        let config = try TraderConfig.decode(json: json, source: "t")
        #expect(config.alerts == AlertConfig(console: false, filePath: nil, webhookURL: nil))
        #expect(config.alertFilePath == nil)
    }

    @Test("sizes and dollars are parsed exactly from numbers and strings")
    func exactNumbers() throws {
        let config = try TraderConfig.decode(json: minimalConfigJSON, source: "minimal")
        #expect(config.detection.minSize.hundredths == 10)  // JSON number 0.1
        #expect(config.detection.maxSize.hundredths == 10)  // string "0.1"
        #expect(config.risk.maxExposurePerEvent.micros == 250_000_001)  // JSON number 250.000001
        #expect(config.risk.maxExposureTotal.micros == 250_000_001)  // string "250.000001"
    }

    @Test("Money(parsingDollars:) is exact and strict",
          arguments: [("250.000001", 250_000_001), ("250", 250_000_000), ("0.1", 100_000), (".5", 500_000),
                      ("0", 0), ("9223372036854.775807", Int64.max)] as [(String, Int64)])
    func parsesDollars(_ text: String, _ micros: Int64) {
        #expect(Money(parsingDollars: text)?.micros == micros)
    }

    @Test("Money(parsingDollars:) refuses what is not a plain decimal",
          arguments: ["", ".", "1.", "1.0000001", "-1", "+1", "1e3", " 1", "1,000", "9223372036854.775808", "0x10", "１"])
    func refusesDollars(_ text: String) {
        #expect(Money(parsingDollars: text) == nil)
    }

    @Test("paths resolve beside the database")
    func paths() throws {
        var config = try TraderConfig.decode(json: minimalConfigJSON, source: "minimal")
        #expect(config.databaseDirectory == "")
        #expect(config.paperStatePath(venue: "a") == "paper-a.db")
        #expect(config.paperStatePath(venue: "b") == "state/b.db")
        #expect(config.alertFilePath == "data/alerts.log")

        config.databasePath = "/var/arb/arb.db"
        #expect(config.databaseDirectory == "/var/arb")
        #expect(config.paperStatePath(venue: "a") == "/var/arb/paper-a.db")
        #expect(config.paperStatePath(venue: "b") == "/var/arb/state/b.db")
        #expect(config.alertFilePath == "/var/arb/data/alerts.log")

        config.databasePath = "run/arb.db"
        config.venues["b"]?.paper?.stateFile = "/abs/b.db"
        config.alerts.filePath = "/logs/alerts.log"
        #expect(config.paperStatePath(venue: "b") == "/abs/b.db")
        #expect(config.paperStatePath(venue: "a") == "run/paper-a.db")
        #expect(config.alertFilePath == "/logs/alerts.log")

        config.databasePath = "/arb.db"
        #expect(config.paperStatePath(venue: "a") == "/paper-a.db")
    }

    @Test("escapes in strings decode; invalid UTF-8 is refused")
    func strings() throws {
        let escaped = minimalConfigJSON.replacingOccurrences(of: #""event_id": "E1""#, with: #""event_id": "E\u002D\u00e9\ud83d\ude00""#)
        #expect(try TraderConfig.decode(json: escaped, source: "t").events[0].eventID == "E-é😀")
        let lone = minimalConfigJSON.replacingOccurrences(of: #""event_id": "E1""#, with: #""event_id": "E\ud83d""#)
        #expect(configError(lone)?.description.contains("surrogate") == true)
        var bytes = Array(minimalConfigJSON.utf8)
        let index = try #require(bytes.firstIndex(of: UInt8(ascii: "1")))  // the "1" of "E1"
        bytes[index] = 0xFF
        #expect(throws: ConfigError(source: "t", field: "", detail: "is not JSON: line 2, column 28: invalid UTF-8 inside a string")) {
            try TraderConfig.decode(json: bytes, source: "t")
        }
    }
}

@Suite("Config: nesting and files")
struct ConfigFileTests {
    @Test("100k nested brackets give an error, not a crash")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000)
        let message = configError(deep)?.description ?? ""
        #expect(message.contains("deeper than 32 levels"), "\(message)")
        #expect(message.contains("line 1, column 33"), "\(message)")
        let deepObject = String(repeating: #"{"a":"#, count: 100_000)
        #expect(configError(deepObject)?.description.contains("deeper than 32") == true)
    }

    @Test("32 levels parse (and then fail on type); 33 levels are refused as too deep")
    func depthBoundary() {
        func nested(_ levels: Int) -> String {
            // root object (1) + alerts object (2) + arrays
            let arrays = levels - 2
            return #"{"alerts": {"file": "# + String(repeating: "[", count: arrays) + String(repeating: "]", count: arrays) + "}}"
        }
        let ok = configError(nested(32))?.description ?? ""
        #expect(!ok.contains("deeper"), "\(ok)")
        let tooDeep = configError(nested(33))?.description ?? ""
        #expect(tooDeep.contains("deeper than 32"), "\(tooDeep)")
    }

    @Test("load reports missing, empty, directory and non-JSON files, and reads a good one")
    func load() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("arb-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let missing = directory.appendingPathComponent("missing.json").path
        #expect(throws: ConfigError(source: missing, field: "", detail: "does not exist; allowed a path to a JSON config file")) {
            try TraderConfig.load(path: missing)
        }

        let empty = directory.appendingPathComponent("empty.json").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        #expect(throws: ConfigError(source: empty, field: "", detail: "is empty; allowed a JSON object (see TraderConfig.demoJSON)")) {
            try TraderConfig.load(path: empty)
        }

        #expect(throws: ConfigError(source: directory.path, field: "", detail: "is a directory; allowed a JSON config file")) {
            try TraderConfig.load(path: directory.path)
        }

        let broken = directory.appendingPathComponent("broken.json").path
        #expect(FileManager.default.createFile(atPath: broken, contents: Data("{\n  \"database\": \"x.db\"\n  \"events\": []\n}".utf8)))
        do {
            _ = try TraderConfig.load(path: broken)
            Issue.record("a broken file loaded")
        } catch {
            #expect(error.description == "config: \(broken) is not JSON: line 3, column 3: expected ',' or '}' after an object member, found '\"'")
        }

        let good = directory.appendingPathComponent("good.json").path
        #expect(FileManager.default.createFile(atPath: good, contents: Data(TraderConfig.demoJSON.utf8)))
        #expect(try TraderConfig.load(path: good) == TraderConfig.demo())

        let huge = directory.appendingPathComponent("huge.json").path
        #expect(FileManager.default.createFile(atPath: huge, contents: Data(repeating: 0x20, count: TraderConfig.maxConfigFileBytes + 1)))
        #expect(throws: ConfigError(source: huge, field: "",
                                    detail: "is \(TraderConfig.maxConfigFileBytes + 1) bytes; allowed at most \(TraderConfig.maxConfigFileBytes) bytes")) {
            try TraderConfig.load(path: huge)
        }

        if geteuid() != 0 {  // root reads anything
            let locked = directory.appendingPathComponent("locked.json").path
            #expect(FileManager.default.createFile(atPath: locked, contents: Data("{}".utf8), attributes: [.posixPermissions: 0o000]))
            #expect(throws: ConfigError(source: locked, field: "",
                                        detail: "cannot be read (permission denied); allowed a readable JSON config file")) {
                try TraderConfig.load(path: locked)
            }
        }
    }
}

@Suite("Config: a Kalshi venue")
struct KalshiConfigTests {
    /// The minimal config with venue `b` made a Kalshi venue with `fields`.
    static func json(_ fields: String) -> String {
        let paperB = minimalConfigJSON.range(of: #""b": {"kind": "paper""#)!
        let end = minimalConfigJSON.range(of: "\n  },\n  \"detection\"")!
        return minimalConfigJSON.replacingCharacters(in: paperB.lowerBound..<end.lowerBound,
                                                     with: #""b": {"kind": "kalshi", "fee": "kalshi_taker", "# + fields + "}")
            .replacingOccurrences(of: #"{"YES": "B-Y", "NO": "B-N"}"#, with: #"{"YES": "KXB:yes", "NO": "KXB:no"}"#)
    }

    @Test("a Kalshi instrument is TICKER:yes or TICKER:no")
    func instruments() {
        for (instrument, ok) in [("KXB", false), ("KXB:YES", false), (":yes", false), ("KX/B:no", false), ("KXB-26.5:no", true)] {
            let json = Self.json(#""environment": "demo""#).replacingOccurrences(of: "KXB:yes", with: instrument)
            if ok {
                #expect(throws: Never.self) { try TraderConfig.decode(json: json, source: "t") }
            } else {
                let message = configError(json)?.description
                #expect(message?.contains("events[0].instruments.b.YES is \"\(instrument)\"; allowed TICKER:yes or TICKER:no") == true,
                        "\(instrument): \(message ?? "accepted")")
            }
        }
    }

    @Test("defaults follow the environment; keys come from the config or, absent, the environment")
    func defaults() throws {
        let demo = try TraderConfig.decode(json: Self.json(#""environment": "demo""#), source: "t")
        #expect(demo.venues["b"]?.settings == .kalshi(KalshiVenueSettings(environment: .demo)))
        #expect(demo.venues["b"]?.kind == .kalshi)
        #expect(demo.venues["b"]?.tradesRealMoney == false)
        guard case .kalshi(let settings)? = demo.venues["b"]?.settings else { return }
        #expect(settings.baseURL == "https://external-api.demo.kalshi.co/trade-api/v2")
        #expect(settings.websocketURL == "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2")
        #expect(settings.keyID == nil && settings.privateKeyFile == nil && settings.selfTradePrevention == .takerAtCross)

        let prod = try TraderConfig.decode(json: Self.json(#"""
            "environment": "prod", "base_url": "http://127.0.0.1:8080/trade-api/v2",
            "ws_url": "ws://127.0.0.1:8080/trade-api/ws/v2", "key_id": "k-1", "private_key_file": "keys/kalshi.pem",
            "self_trade_prevention": "maker"
            """#), source: "t")
        #expect(prod.venues["b"]?.settings == .kalshi(KalshiVenueSettings(
            environment: .prod, baseURL: "http://127.0.0.1:8080/trade-api/v2",
            websocketURL: "ws://127.0.0.1:8080/trade-api/ws/v2", keyID: "k-1", privateKeyFile: "keys/kalshi.pem",
            selfTradePrevention: .maker)))
        #expect(prod.venues["b"]?.tradesRealMoney == true)
    }

    @Test("a Kalshi venue without its environment, with a paper key, or with a bad URL is refused by name",
          arguments: [
              (#""key_id": "k""#, #"venues.b.environment is missing; allowed "demo" or "prod""#),
              (#""environment": "production""#, #"venues.b.environment is "production"; allowed "demo" or "prod""#),
              (#""environment": "demo", "paper": {}"#,
               "venues.b.paper is not a known key; allowed keys: kind, fee, environment, base_url, ws_url, key_id"),
              (#""environment": "demo", "base_url": "ftp://x/trade-api/v2""#,
               #"venues.b.base_url is "ftp://x/trade-api/v2"; allowed a https:// or http:// URL with a host"#),
              (#""environment": "demo", "ws_url": "https://x/ws""#, #"venues.b.ws_url is "https://x/ws"; allowed a wss://"#),
              (#""environment": "demo", "self_trade_prevention": "none""#, #"venues.b.self_trade_prevention is "none""#),
              (#""environment": "demo", "key_id": "a b""#, #"venues.b.key_id is "a b"; allowed a key id"#),
          ])
    func refused(_ fields: String, _ expected: String) {
        let message = configError(Self.json(fields))?.description ?? ""
        #expect(message.contains(expected), "\(message)")
    }

    @Test("arb run refuses a prod venue without --live before it opens anything; demo needs no flag")
    func liveFlag() async throws {
        let directory = TemporaryDirectory()
        let prodConfig = directory.path("prod.json")
        try Self.json(#""environment": "prod""#).write(toFile: prodConfig, atomically: true, encoding: .utf8)
        let refused = try await runBuilt("arb", ["run", "--config", prodConfig], currentDirectory: directory.url.path)
        #expect(refused.status == 2)
        #expect(refused.stderr == "arb: venues.b trades real money (kalshi prod); add --live to confirm, or use its demo environment\n")
        #expect(!FileManager.default.fileExists(atPath: directory.path("arb.db")), "a refused run created the database")

        // With --live (or a demo config) the flag check passes and the run goes on to open the venues.
        let confirmed = try await runBuilt("arb", ["run", "--config", prodConfig, "--live"], currentDirectory: directory.url.path)
        #expect(!confirmed.stderr.contains("--live"), "\(confirmed.stderr)")
        let demoConfig = directory.path("demo.json")
        try Self.json(#""environment": "demo""#).write(toFile: demoConfig, atomically: true, encoding: .utf8)
        let demo = try await runBuilt("arb", ["run", "--config", demoConfig], currentDirectory: directory.url.path)
        #expect(!demo.stderr.contains("--live"), "\(demo.stderr)")
    }
}

@Suite("Config: a Polymarket venue")
struct PolymarketConfigTests {
    static let conditionID = "0x" + String(repeating: "ab", count: 32)

    /// The minimal config with venue `b` made a Polymarket venue with `fields`, and the event's
    /// `markets` set to `markets` (nil: none).
    static func json(_ fields: String, markets: String? = #"{"b": {"condition_id": "\#(conditionID)", "tick_size": "0.01", "neg_risk": false}}"#) -> String {
        var json = KalshiConfigTests.json(fields).replacingOccurrences(of: #""kind": "kalshi", "fee": "kalshi_taker""#,
                                                                      with: #""kind": "polymarket", "fee": "free""#)
        if let markets {
            json = json.replacingOccurrences(of: #""outcomes": ["YES", "NO"],"#, with: #""outcomes": ["YES", "NO"], "markets": \#(markets),"#)
        }
        return json
    }

    @Test("defaults, the market of each event, and real money unless the CLOB is a loopback address")
    func decodes() throws {
        let config = try TraderConfig.decode(json: Self.json(#""signature_type": "eoa""#), source: "t")
        #expect(config.venues["b"]?.settings == .polymarket(PolymarketVenueSettings(signatureType: .eoa, funder: nil)))
        #expect(config.events[0].markets == ["b": PolymarketMarket(conditionID: Self.conditionID, tickSize: .hundredth, negRisk: false)])
        #expect(config.venues["b"]?.tradesRealMoney == true)
        let funder = "0x" + String(repeating: "C", count: 40)
        let loopback = try TraderConfig.decode(json: Self.json(#"""
            "signature_type": "gnosis_safe", "funder": "\#(funder)", "base_url": "http://127.0.0.1:9000", "ws_url": "ws://127.0.0.1:9000"
            """#), source: "t")
        #expect(loopback.venues["b"]?.settings == .polymarket(PolymarketVenueSettings(
            baseURL: "http://127.0.0.1:9000", websocketURL: "ws://127.0.0.1:9000", signatureType: .gnosisSafe, funder: funder)))
        #expect(loopback.venues["b"]?.tradesRealMoney == false)
        // The book feed's channel is under the websocket root; the silence limit defaults to 30 s.
        if case .polymarket(let settings)? = loopback.venues["b"]?.settings {
            #expect(settings.marketChannelURL == "ws://127.0.0.1:9000/ws/market" && settings.bookSilenceMilliseconds == 30_000)
        } else {
            Issue.record("not a Polymarket venue")
        }
        let quiet = try TraderConfig.decode(json: Self.json(#""signature_type": "eoa", "ws_url": "wss://x.example/", "book_silence_ms": 5000"#),
                                            source: "t")
        if case .polymarket(let settings)? = quiet.venues["b"]?.settings {
            #expect(settings.marketChannelURL == "wss://x.example/ws/market" && settings.bookSilenceMilliseconds == 5_000)
        }
        #expect(configError(Self.json(#""signature_type": "eoa", "book_silence_ms": 10"#))?.description
                    .contains("venues.b.book_silence_ms is 10") == true)
        #expect(VenueURL.isLoopback("http://localhost:1/x") && VenueURL.isLoopback("http://[::1]:8/") && !VenueURL.isLoopback("https://127.0.0.1.example.com"))
    }

    @Test("refusals name the field", arguments: [
        (json(#""funder": "0x12""#), #"venues.b.signature_type is missing; allowed "eoa", "poly_proxy" or "gnosis_safe""#),
        (json(#""signature_type": "poly_proxy""#), "venues.b.funder is missing; allowed the poly_proxy address"),
        (json(#""signature_type": "eoa", "funder": "0x12""#), #"venues.b.funder is "0x12"; allowed an address: 0x and 40 hex digits"#),
        (json(#""signature_type": "eoa""#, markets: nil), "events[0].markets.b is missing; allowed an object with \"condition_id\""),
        (json(#""signature_type": "eoa""#, markets: #"{"a": {"condition_id": "\#(conditionID)", "tick_size": "0.01", "neg_risk": false}}"#),
         "events[0].markets.a is not a Polymarket venue of this event; allowed b"),
        (json(#""signature_type": "eoa""#, markets: #"{"b": {"condition_id": "\#(conditionID)", "tick_size": "0.02", "neg_risk": false}}"#),
         #"events[0].markets.b.tick_size is "0.02"; allowed one of "0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001""#),
        (json(#""signature_type": "eoa""#, markets: #"{"b": {"condition_id": "0xzz", "tick_size": "0.01", "neg_risk": false}}"#),
         #"events[0].markets.b.condition_id is "0xzz"; allowed a condition id: 0x and 64 hex digits"#),
    ])
    func refused(_ json: String, _ expected: String) {
        let message = configError(json)?.description ?? ""
        #expect(message.contains(expected), "\(message)")
    }
}

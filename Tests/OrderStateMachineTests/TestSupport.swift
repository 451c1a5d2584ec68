import Foundation
import OrderStateMachine

/// A fresh directory under the system temp dir, removed when the value is dropped.
final class TemporaryDirectory {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("arb-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The directory holding the built products (the test bundle sits beside the executables).
func builtProductsDirectory() -> URL {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = executable.deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("arb-store-probe").path),
          directory.path != "/" {
        directory = directory.deletingLastPathComponent()
    }
    return directory
}

struct ProcessOutput {
    var status: Int32
    var terminatedBySignal: Bool
    var stdout: String
    var stderr: String
}

/// Runs an executable to its end and collects its output.
func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(
        status: process.terminationStatus,
        terminatedBySignal: process.terminationReason == .uncaughtSignal,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs a built product and waits for it.
func runProduct(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
    try runProcess(builtProductsDirectory().appendingPathComponent(name), arguments, environment: environment)
}

/// A detected opportunity on key `key` with fixed prices.
func sampleOpportunity(_ key: String, quantity: Int64 = 10, at now: Int64 = 1_000) -> NewOpportunity {
    NewOpportunity(
        eventID: key,
        legA: LegQuote(venue: "kalshi", outcome: "YES", instrument: "K-\(key)", price: Price(ticks: 4_500)!),
        legB: LegQuote(venue: "polymarket", outcome: "NO", instrument: "P-\(key)", price: Price(ticks: 5_000)!),
        edgeBps: 300, quantity: Quantity(contracts: quantity), expectedFees: Money(cents: 36),
        detectedAtMilliseconds: now)
}

func sampleLegs(_ store: Store, _ id: OpportunityID, quantity: Int64 = 10) -> [LegIntent] {
    [
        LegIntent(leg: .a, venue: "kalshi", instrument: "K", side: .buy, limitPrice: Price(ticks: 4_500)!,
                  quantity: Quantity(contracts: quantity), timeInForce: .ioc,
                  clientOrderID: store.clientOrderID(opportunity: id, leg: .a)),
        LegIntent(leg: .b, venue: "polymarket", instrument: "P", side: .buy, limitPrice: Price(ticks: 5_000)!,
                  quantity: Quantity(contracts: quantity), timeInForce: .ioc,
                  clientOrderID: store.clientOrderID(opportunity: id, leg: .b)),
    ]
}

/// The file's bytes, to prove a refused file was left untouched.
func fileContents(_ path: String) -> Data? {
    try? Data(contentsOf: URL(fileURLWithPath: path))
}

import Foundation
import OrderStateMachine

/// `arbadmin alerts test [--sink NAME]`: one test alert straight to each configured sink (not
/// through the outbox: nothing is written to the database), and what each answered.
public enum AlertsTest {
    public struct Outcome: Sendable {
        public var sink: String
        /// nil: delivered.
        public var failure: String?
    }

    public static func run(_ context: AdminContext, sink only: String?, environment: [String: String],
                           clock: any TradingClock = SystemClock()) async throws -> [Outcome] {
        let sinks: [any AlertSink]
        do {
            sinks = try AlertDispatcher.makeSinks(config: context.config.alerts, alertFilePath: context.config.alertFilePath,
                                                  environment: environment)
        } catch {
            throw AdminFailure(error.description, exitCode: .usage)
        }
        let chosen = only.map { name in sinks.filter { $0.name == name } } ?? sinks
        if chosen.isEmpty {
            let names = sinks.map(\.name).joined(separator: ", ")
            throw AdminFailure(only.map { "no alert sink \(MessageText.quoted($0)) in the config; configured: \(names.isEmpty ? "none" : names)" }
                ?? "the config has no alert sinks", exitCode: .usage)
        }
        let now = clock.nowMilliseconds()
        let alert = PendingDelivery(
            alertID: 0, key: "test-\(now)", kind: "test", severity: .critical,
            text: "arb alert test from \(Trader.hostName()) at \(Timestamp.iso8601(now)): if you read this, arb's alerts reach you here",
            bodyJSON: #"{"test":true}"#, createdAtMilliseconds: now, sink: "", attempts: 0)
        var outcomes: [Outcome] = []
        for sink in chosen {
            var delivery = alert
            delivery.sink = sink.name
            do {
                try await sink.deliver(delivery)
                outcomes.append(Outcome(sink: sink.name, failure: nil))
            } catch {
                outcomes.append(Outcome(sink: sink.name, failure: "\(error)"))
            }
        }
        for sink in sinks { await sink.shutdown() }
        return outcomes
    }

    public static func text(_ outcomes: [Outcome]) -> [String] {
        outcomes.map { "\($0.sink): " + ($0.failure.map { "FAILED — \($0)" } ?? "delivered") }
    }
}

import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear the halt flag: trading may open new opportunities again.",
            discussion: """
                A running `arb run` picks it up from its next quote; a halt set by a risk limit is cleared too. \
                With --market EVENT, clears that market's block instead (set after too many unwinds in a day).
                """
        )

        @OptionGroup var options: SharedOptions

        @Option(name: .long, help: "Unblock this event's market (blocked after max_unwinds_per_market_per_day unwinds) instead of clearing the halt.")
        var market: String?

        func run() async throws {
            let store = try options.context().openForWriting()
            let outcome = try market.map { try OperatorActions.resumeMarket(store, eventID: $0, now: nowMilliseconds()) }
                ?? OperatorActions.resume(store, now: nowMilliseconds())
            options.emit(lines: outcome.lines, json: outcome.json)
        }
    }
}

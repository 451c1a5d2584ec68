import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Positions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Positions from the recorded fills, per venue and instrument and per event, with their worst and best case at settlement.",
            discussion: """
                Per venue and instrument: net contracts, how many are hedged by their opportunity's \
                other leg and how many are exposed, the cost basis with fees, the loss if that \
                outcome loses and the payout if it wins. Per event (exactly one outcome wins): \
                holdings by outcome, hedged pairs, exposed contracts, cost basis, and the worst and \
                best profit or loss at settlement. Exposure marked flattened by hand is noted: the \
                trades that flattened it were made outside arb.
                """
        )

        @OptionGroup var options: SharedOptions

        func run() async throws {
            let store = try options.context().openReadOnly()
            let report = try PositionReport.read(store)
            options.emit(lines: report.table(), json: report.json())
        }
    }
}

import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one opportunity: legs, fills, the timeline of transitions with reasons, and its alerts.",
            discussion: """
                Everything the database knows about it: the plan, what is exposed, each leg's order \
                (client and venue order ids, status, filled quantity, cancel), every fill, every \
                transition with its time and reason, and every alert with its delivery to each sink. \
                With --json one object (the same object `export --format json` writes for it).
                """
        )

        @OptionGroup var options: SharedOptions

        @Argument(help: "The opportunity's id (see `arbadmin list`).")
        var id: Int64

        func run() async throws {
            let store = try options.context().openReadOnly()
            let history = try OpportunityReport.read(store, id: id)
            options.emit(lines: OpportunityReport.text(history, now: nowMilliseconds()), json: OpportunityReport.json(history))
        }
    }
}

import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear the halt flag: trading may open new opportunities again.",
            discussion: "A running `arb run` picks it up from its next quote; a halt set by a risk limit is cleared too."
        )

        @OptionGroup var options: SharedOptions

        func run() async throws {
            let store = try options.context().openForWriting()
            let outcome = try OperatorActions.resume(store, now: nowMilliseconds())
            options.emit(lines: outcome.lines, json: outcome.json)
        }
    }
}

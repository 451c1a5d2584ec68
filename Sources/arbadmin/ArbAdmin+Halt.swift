import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Halt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop opening new opportunities, now and after restarts, until `arbadmin resume`.",
            discussion: """
                Persists the halt flag in the database. A running `arb run` opens no new \
                opportunity from its next quote on; those in flight finish. A restarted trader stays \
                halted. `arb run` sets the same flag itself when a risk limit trips; only `resume` \
                clears it.
                """
        )

        @OptionGroup var options: SharedOptions

        @Option(name: .long, help: "Why: shown by `status` and the trader.")
        var reason: String

        func validate() throws {
            if reason.allSatisfy(\.isWhitespace) {
                throw ValidationError("--reason is empty; say why, e.g. --reason \"kalshi maintenance\"")
            }
        }

        func run() async throws {
            let store = try options.context().openForWriting()
            let outcome = try OperatorActions.halt(store, reason: reason, now: nowMilliseconds())
            options.emit(lines: outcome.lines, json: outcome.json)
        }
    }
}

import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve an opportunity by hand: close it (outcome manual) with a note, or mark its exposure flattened.",
            discussion: """
                A non-terminal opportunity moves to Closed(manual) with the note as the reason in \
                its timeline, through the same compare-and-set as every transition: if a running \
                trader moves it first, nothing is written and the command says so (exit 1). Closing \
                does not cancel orders still live at a venue; the command warns if there are any.

                --flattened records that a one-sided exposure was offset by hand, so it leaves \
                `list --one-sided`: on a Closed(one_sided) opportunity it sets the mark (the only \
                change a closed opportunity allows); on a non-terminal one with unequal fills it \
                closes it manual and marks it. Any other closed opportunity is refused.

                The note is also written as an `operator_note` alert in the same commit, so whoever \
                saw the one-sided alert sees that a person resolved it.
                """
        )

        @OptionGroup var options: SharedOptions

        @Argument(help: "The opportunity's id (see `arbadmin list --one-sided`).")
        var id: Int64

        @Option(name: .long, help: "Why, and what you did: kept in the timeline and the alert outbox.")
        var note: String

        @Flag(name: .long, help: "The exposure was flattened by hand: take it out of `list --one-sided`.")
        var flattened = false

        func validate() throws {
            if note.allSatisfy(\.isWhitespace) {
                throw ValidationError("--note is empty; say what you did, e.g. --note \"sold 2 YES on kalshi at 0.47\"")
            }
        }

        func run() async throws {
            let store = try options.context().openForWriting()
            let outcome = try OperatorActions.close(store, id: id, note: note, flattened: flattened, now: nowMilliseconds())
            options.emit(lines: outcome.lines, json: outcome.json)
        }
    }
}

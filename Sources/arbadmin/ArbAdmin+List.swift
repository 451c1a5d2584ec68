import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List opportunities, newest first, with what each left exposed.",
            discussion: """
                A table for people: id, age, event, state (and outcome), edge, hedged and exposed \
                contracts, exposure in dollars (the exposed contracts' share of their leg's cost and \
                fees). With --json an array for machines (snake_case keys, times in ISO 8601 UTC, \
                money and quantities as exact decimal strings).

                --one-sided lists every opportunity whose legs are unequally filled and not yet \
                flattened: OneSided, CancelAttempted, Unwinding, and Closed(one_sided) until `arbadmin close ID \
                --flattened`. Filters combine.
                """
        )

        @OptionGroup var options: SharedOptions

        @Flag(name: .customLong("one-sided"), help: "Only unequally filled, not yet flattened opportunities.")
        var oneSided = false

        @Option(name: .long, help: "Only this state: Detected, InFlight, LegsPlaced, Filled, OneSided, CancelAttempted, Unwinding or Closed.")
        var state: String?

        @Option(name: .long, help: "Only Closed ones with this outcome: hedged, one_sided, no_fill, abandoned, rejected, manual, completed or flattened.")
        var outcome: String?

        @Option(name: .long, help: "Only those detected since: an ISO 8601 time (2025-06-01T09:30:00Z), a UTC date, or an age (90m, 2h, 3d).")
        var since: String?

        @Option(name: .long, help: "At most this many (the newest).")
        var limit: Int?

        var filters: ListFilters {
            ListFilters(state: state, outcome: outcome, oneSided: oneSided, since: since, limit: limit)
        }

        func validate() throws {
            do {
                try filters.validate(now: nowMilliseconds())
            } catch {
                throw ValidationError(error.message)
            }
        }

        func run() async throws {
            let store = try options.context().openReadOnly()
            let rows = try OpportunityListing.read(store, filters, now: nowMilliseconds())
            options.emit(lines: OpportunityListing.table(rows, now: nowMilliseconds()), json: OpportunityListing.json(rows))
        }
    }
}

import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Export: AsyncParsableCommand {
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case csv, json
        }

        static let configuration = CommandConfiguration(
            abstract: "Export opportunities with their legs and fills, oldest first, for spreadsheets and accounting.",
            discussion: """
                json: an array of the objects `show --json` prints (legs nested under each \
                opportunity, fills under each leg, with the timeline and alerts). csv (RFC 4180, \
                CRLF): one record per leg, carrying its opportunity's columns; an opportunity that \
                never sent a leg has no record.
                """
        )

        @OptionGroup var options: SharedOptions

        @Option(name: .long, help: "csv or json.")
        var format: Format

        @Option(name: .long, help: "Only those detected since: an ISO 8601 time, a UTC date, or an age (90m, 2h, 3d).")
        var since: String?

        func validate() throws {
            if options.json && format == .csv {
                throw ValidationError("--json and --format csv disagree; use --format json (or drop --json)")
            }
            if let since {
                do {
                    _ = try AdminFilters.since(since, now: nowMilliseconds())
                } catch {
                    throw ValidationError(error.message)
                }
            }
        }

        func run() async throws {
            let sinceMilliseconds = try since.map { text throws(AdminFailure) in try AdminFilters.since(text, now: nowMilliseconds()) }
            let store = try options.context().openReadOnly()
            let histories = try ExportReport.read(store, since: sinceMilliseconds)
            switch format {
            case .json: print(ExportReport.json(histories))
            case .csv: print(ExportReport.csv(histories), terminator: "")
            }
        }
    }
}

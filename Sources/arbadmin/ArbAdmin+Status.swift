import ArbEngine
import ArgumentParser

extension ArbAdmin {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Halt state, the trader holding the lease and its heartbeat, counts by state, undelivered alerts.",
            discussion: """
                The first command at 3 a.m.: whether trading is halted (and why), which `arb run` \
                holds the database (pid, host, start, heartbeat age; live, dead or stale), how many \
                opportunities are in each state, how many one-sided exposures are not yet \
                flattened, and how many alerts some sink has not received.
                """
        )

        @OptionGroup var options: SharedOptions

        func run() async throws {
            let store = try options.context().openReadOnly()
            let report = try StatusReport.read(store, now: nowMilliseconds())
            options.emit(lines: report.text(), json: report.json())
        }
    }
}

import ArbEngine
import ArgumentParser
import Foundation

extension ArbAdmin {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the database against the invariants the trader promises, and the paper venues' own files.",
            discussion: """
                Every order at a paper venue maps to one leg and is the order that leg describes; \
                legs agree with the venue (filled quantity, and for a closed opportunity a final \
                status); transitions are legal and the state is the last logged; outcomes agree \
                with the fills; every one-sided exposure has an alert, and every alert says what \
                the leg rows said when it was committed. Read-only. Exit 0 when everything holds, \
                1 with one line per violation.
                """
        )

        @OptionGroup var options: SharedOptions

        @Flag(name: .long, help: "Also require that no opportunity is left non-terminal (after a recovery with every venue reachable).")
        var allClosed = false

        @Option(name: .long, help: "A sink every one-sided alert must have been delivered to (repeatable).")
        var sink: [String] = []

        func run() async throws {
            let context = try options.context()
            _ = try context.openReadOnly()  // a missing, foreign or newer file: one line, untouched
            let violations = try Invariants.check(
                databasePath: context.databasePath, paperFiles: context.paperFiles(),
                options: .init(requireAllClosed: allClosed, sinks: sink))
            let lines = violations.isEmpty ? ["all invariants hold"] : violations
            options.emit(lines: lines, json: AdminText.json(["violations": violations]))
            if !violations.isEmpty { throw ExitCode(AdminExitCode.needsAttention.rawValue) }
        }
    }
}

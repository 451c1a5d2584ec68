import ArbEngine
import ArgumentParser
import Foundation

@main
struct ArbAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arbadmin",
        abstract: "Look after an arb trader database: what is exposed, how it happened, and finishing what a crash left.",
        discussion: """
            Every command works on the database `arb run` uses: --db, else the --config file's \
            "database", else arb.db in the working directory (the built-in demo's). Read-only \
            commands (list, show, positions, status, export, alerts, reconcile --dry-run) open it \
            read-only and work while `arb run` is trading.

            Exit codes: 0 done; 1 something needs a person (reconcile left an opportunity \
            non-terminal) or an operating error (no such database or id, a foreign or newer file, \
            a refused close, a lease held by a running trader); 2 a usage or config error (a bad \
            flag or value, an invalid --config). Errors are one line on standard error, starting \
            "arbadmin:"; a file that is refused is never changed.
            """,
        version: ArbEngineVersion.string,
        subcommands: [
            Status.self, List.self, Show.self, Positions.self, Alerts.self, Reconcile.self, Close.self, Halt.self,
            Resume.self, Unwind.self, Export.self, Audit.self, Venues.self, Serve.self,
        ]
    )

    /// Parses, runs, and maps every way out to one line and an exit code: usage errors exit 2
    /// (not ArgumentParser's 64), operating errors 1, `--help` and `--version` 0.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let failure as AdminFailure {
            fail(failure.message, code: failure.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                fail(message(for: error), code: .usage)
            }
            if code == .success {
                exit(withError: error)
            }
            if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
            fail(AdminFailure.from(error).message, code: AdminFailure.from(error).exitCode)
        }
    }

    static func fail(_ message: String, code: AdminExitCode) -> Never {
        FileHandle.standardError.write(Data("arbadmin: \(MessageText.singleLine(message))\n".utf8))
        Foundation.exit(code.rawValue)
    }
}

/// `--db`, `--config` and `--json`, shared by every command.
struct SharedOptions: ParsableArguments {
    @Option(name: .long, help: "The trader database (default: the --config file's, else arb.db in the working directory — as `arb run`).")
    var db: String?

    @Option(name: .long, help: "A JSON config file (default: the built-in paper demo — as `arb run`).")
    var config: String?

    @Flag(name: .long, help: "Write JSON for machines instead of text for people.")
    var json = false

    func context() throws -> AdminContext {
        try AdminContext(databasePath: db, configPath: config)
    }

    /// Text for people or JSON for machines, on standard output.
    func emit(lines: @autoclosure () -> [String], json text: @autoclosure () -> String) {
        print(json ? text() : lines().joined(separator: "\n"))
    }
}

/// The wall clock, in Unix milliseconds.
func nowMilliseconds() -> Int64 { SystemClock().nowMilliseconds() }

import ArbEngine
import ArgumentParser
import Foundation

extension ArbAdmin {
    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Finish what a crash left: settle every non-terminal opportunity against the venues.",
            discussion: """
                The same recovery `arb run` performs at start (DESIGN §6), against the venues in the \
                config (the built-in paper demo's when no --config is given): never-sent ones are \
                abandoned, orders are looked up by client order id, missing fills recorded, owed \
                cancels sent, and each opportunity moved to the state the venues' truth implies. \
                Every action is printed. The alerts it raises are delivered to the config's sinks.

                It takes the trader's lease while it works: it refuses while a live `arb run` holds \
                the database (and names it); it takes over the lease of a trader whose process is \
                gone from this host; a lease whose heartbeat is stale but whose holder cannot be \
                proven dead (another host) is taken over only with --force.

                --dry-run prints the plan without sending or changing anything (read-only; no lease).

                Exit 0 when nothing is left non-terminal; 1 when something needs a person (each \
                listed with the reason), or the lease is held; 2 for usage or config errors.
                """
        )

        @OptionGroup var options: SharedOptions

        @Flag(name: .customLong("dry-run"), help: "Print the plan; send and change nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Take over a stale lease whose holder cannot be proven dead (never a live one).")
        var force = false

        func validate() throws {
            if dryRun && force {
                throw ValidationError("--force takes over the lease, which a dry run never takes; drop --force or --dry-run")
            }
        }

        func run() async throws {
            let result = try await AdminReconcile.run(options.context(), dryRun: dryRun, force: force,
                                                      environment: ProcessInfo.processInfo.environment)
            options.emit(lines: AdminReconcile.text(result), json: AdminReconcile.json(result))
            if result.exitCode != .ok { throw ExitCode(result.exitCode.rawValue) }
        }
    }
}

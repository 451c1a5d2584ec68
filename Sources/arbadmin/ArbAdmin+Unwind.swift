import ArbEngine
import ArgumentParser
import Foundation
import OrderStateMachine

extension ArbAdmin {
    struct Unwind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unwind a Closed(one_sided) exposure by hand: complete or flatten it within a loss bound.",
            discussion: """
                Reopens the opportunity (Closed(one_sided) → Unwinding, your note as the reason in \
                its timeline and an operator_note alert in the same commit) and places up to the \
                config's unwind max_attempts IOC orders, retry_ms apart, each persisted before it is \
                sent: `complete` buys the missing outcome at the other leg's venue, `flatten` sells \
                the excess back at the held leg's venue. arbadmin has no live books, so each order's \
                limit is the bound itself, the worst price --max-loss allows (fees included): the \
                venue fills it at its best prices up to there. It then closes completed, flattened \
                or one_sided (with the unwind alert) by what the venues report. A crash midway \
                leaves it Unwinding for `arbadmin reconcile` or the trader's restart.

                It takes the trader's lease like reconcile: it refuses while a live `arb run` holds \
                the database (stop it first). Default policy: the config's unwind policy when it is \
                complete or flatten, else complete. Default --max-loss: the config's \
                max_loss_per_contract. The bound covers all of the opportunity's unwinds: what \
                earlier ones realised counts against it.

                Exit 0 when it closed (whatever the outcome); 1 when it was refused or something \
                needs a person; 2 for usage or config errors.
                """
        )

        @OptionGroup var options: SharedOptions

        @Argument(help: "The opportunity's id (see `arbadmin list --one-sided`).")
        var id: Int64

        @Option(name: .long, help: "complete (buy the missing outcome) or flatten (sell the excess back).")
        var policy: String?

        @Option(name: .customLong("max-loss"), help: "The most to lose per exposed contract, fees included, in dollars (e.g. 0.02).")
        var maxLoss: String?

        @Option(name: .long, help: "Why: kept in the timeline and the alert outbox.")
        var note: String

        @Flag(name: .long, help: "Take over a stale lease whose holder cannot be proven dead (never a live one).")
        var force = false

        func validate() throws {
            if let policy, UnwindAction(rawValue: policy) == nil {
                throw ValidationError("--policy \(policy) is not a policy; use complete or flatten")
            }
            if let maxLoss {
                guard let money = Money(parsingDollars: maxLoss), money >= .zero, money < Money(cents: 100) else {
                    throw ValidationError("--max-loss \(maxLoss) is not an amount from 0 up to (not including) 1.00 dollar per contract; e.g. --max-loss 0.02")
                }
            }
            if note.allSatisfy(\.isWhitespace) {
                throw ValidationError("--note is empty; say why, e.g. --note \"kalshi back up, completing at most 2 cents worse\"")
            }
        }

        func run() async throws {
            let outcome = try await AdminUnwind.run(
                options.context(), id: id, action: policy.flatMap(UnwindAction.init(rawValue:)),
                maxLoss: maxLoss.flatMap(Money.init(parsingDollars:)), note: note, force: force,
                environment: ProcessInfo.processInfo.environment)
            options.emit(lines: outcome.lines, json: outcome.json)
            if outcome.lines.contains(where: { $0.hasPrefix("NEEDS A PERSON") }) { throw ExitCode(1) }
        }
    }
}

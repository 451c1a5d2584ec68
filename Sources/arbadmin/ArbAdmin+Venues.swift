import ArbEngine
import ArgumentParser
import Foundation

extension ArbAdmin {
    struct Venues: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the configured real venues, or cancel every live order at once.",
            subcommands: [Check.self, CancelAll.self, Setup.self]
        )
    }
}

extension ArbAdmin.Venues {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "For each real venue: an authenticated read (the balance) and the clock skew; what is wrong in one line.",
            discussion: """
                Reads the config's venues (keys from the config or KALSHI_API_KEY_ID / \
                KALSHI_PRIVATE_KEY_FILE) and sends one signed read to each; nothing is traded and the \
                database is not opened. Exit 0 when every real venue answered; 1 otherwise.
                """
        )

        @OptionGroup var options: SharedOptions

        func run() async throws {
            let checks = await AdminVenues.check(try options.context(), environment: ProcessInfo.processInfo.environment)
            options.emit(lines: AdminVenues.text(checks), json: AdminVenues.json(checks))
            if !checks.allSatisfy(\.ok) { throw ExitCode(AdminExitCode.needsAttention.rawValue) }
        }
    }

    struct CancelAll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel-all",
            abstract: "Cancel every order the database knows to be live, at once, and record it.",
            discussion: """
                Every leg that is not final, of an opportunity not closed, is cancelled at its venue \
                by its order id (--venue: only there). Each result is printed. Then recovery (as \
                `arbadmin reconcile`) records the venues' truth: fills that came before the cancel, and \
                each opportunity's closing state. The cancels go out even while a trader runs; \
                recording then waits for that trader (it sees its orders cancelled). \
                Exit 0 when every cancel took effect and nothing is left non-terminal; 1 otherwise.
                """
        )

        @OptionGroup var options: SharedOptions

        @Option(name: .long, help: "Only this venue's orders.")
        var venue: String?

        @Flag(name: .long, help: "Take over a stale lease whose holder cannot be proven dead (never a live one).")
        var force = false

        func validate() throws {
            if options.json { throw ValidationError("cancel-all prints text only; drop --json") }
        }

        func run() async throws {
            let result = try await AdminVenues.cancelAll(try options.context(), venue: venue, force: force,
                                                         environment: ProcessInfo.processInfo.environment)
            print(AdminVenues.cancelText(result).joined(separator: "\n"))
            let recorded = result.cancels.isEmpty || (result.reconcile?.exitCode == .ok)
            if !result.cancels.allSatisfy(\.tookEffect) || !recorded {
                throw ExitCode(AdminExitCode.needsAttention.rawValue)
            }
        }
    }
}

extension ArbAdmin.Venues {
    struct Setup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or derive a venue's API credentials and store them in a 0600 file.",
            subcommands: [Polymarket.self]
        )
    }
}

extension ArbAdmin.Venues.Setup {
    struct Polymarket: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create (or derive) the Polymarket API credentials of the configured wallet.",
            discussion: """
                Signs Polymarket's L1 ClobAuth message with the wallet key (POLY_PRIVATE_KEY, or the \
                venue's private_key_file / POLY_PRIVATE_KEY_FILE), asks the CLOB for API credentials \
                (derived when they exist already) and writes {"api_key","secret","passphrase"} to --out \
                or the venue's credentials_file, readable by its owner only. Prints the API key id; the \
                secret and passphrase are never printed.
                """
        )

        @OptionGroup var options: SharedOptions

        @Option(name: .long, help: "The polymarket venue (default: the config's only or first one).")
        var venue: String?

        @Option(name: .long, help: "Where to write the credentials (default: the venue's credentials_file).")
        var out: String?

        @Flag(name: .long, help: "Write over an existing credentials file.")
        var replace = false

        func run() async throws {
            let result = try await AdminVenues.setupPolymarket(try options.context(), venue: venue, out: out, replace: replace,
                                                               environment: ProcessInfo.processInfo.environment)
            print("Polymarket API key \(result.apiKey) stored in \(result.path) (mode 600); "
                + "set credentials_file to it, or keep POLY_API_KEY / POLY_API_SECRET / POLY_PASSPHRASE instead")
        }
    }
}

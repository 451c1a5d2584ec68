import ArbEngine
import ArgumentParser
import Foundation

extension Arb {
    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the exact signed requests arb would send to a venue; sends nothing.",
            subcommands: [KalshiOrder.self, PolymarketOrder.self, PolymarketL2.self]
        )
    }
}

extension Arb.Sign {
    struct KalshiOrder: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kalshi-order",
            abstract: "Sign Kalshi create-order requests read as JSON lines on stdin; print one JSON line each.",
            discussion: """
                Each input line: {"key_id":"…","key_file":"PATH","timestamp_ms":"1764600000000",\
                "order":{"ticker":"…","outcome":"yes"|"no","action":"buy"|"sell","price":"0.4500",\
                "count":"10.00","time_in_force":"immediate_or_cancel"|"fill_or_kill"|"good_till_canceled",\
                "client_order_id":"…"}} (optional "self_trade_prevention": "taker_at_cross"|"maker"). \
                Each output line: {"method","path","headers","body"} — the V2 body on the YES book \
                (a NO order at p is an ask or bid at 1 − p). The key file must be readable by its owner \
                only. A bad line stops with a one-line error naming it; nothing after it is printed.
                """
        )

        func run() throws {
            var signing = KalshiOrderSigning()
            var number = 0
            while let line = readLine(strippingNewline: true) {
                number += 1
                if line.allSatisfy(\.isWhitespace) { continue }
                do {
                    print(try signing.sign(line: line))
                } catch {
                    FileHandle.standardError.write(Data("arb sign kalshi-order: line \(number): \(error.description)\n".utf8))
                    throw ExitCode(1)
                }
            }
        }
    }
}

extension Arb.Sign {
    /// Reads stdin line by line, printing `sign(line)` for each; a refused line stops with one
    /// line on stderr naming it, exit 1.
    static func eachLine(_ command: String, _ sign: (String) throws -> String) throws {
        var number = 0
        while let line = readLine(strippingNewline: true) {
            number += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            do {
                print(try sign(line))
            } catch {
                FileHandle.standardError.write(Data("arb sign \(command): line \(number): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct PolymarketOrder: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "polymarket-order",
            abstract: "Sign Polymarket CLOB V2 orders read as JSON lines on stdin; print one JSON line each.",
            discussion: """
                Each input line: {"private_key":"0x…","maker":"0x…","signature_type":0|1|2,"token_id":"…",\
                "side":"BUY"|"SELL","price":"0.47","size":"277.99","tick_size":"0.01","neg_risk":false,\
                "salt":123,"timestamp":"1760000000000"} ("maker" may be left out for an EOA; optional \
                "order_type": GTC, GTD, FOK or FAK). Each output line: {"maker_amount","taker_amount",\
                "order_hash","signature","body"} — the EIP-712 V2 order hash (the venue's order id) and \
                its secp256k1 signature, and the POST /order body without "owner". The key is read from \
                stdin, never printed. A bad line stops with a one-line error naming it.
                """
        )

        func run() throws {
            var signing = PolymarketSigning()
            try Arb.Sign.eachLine("polymarket-order") { try signing.signOrder(line: $0) }
        }
    }

    struct PolymarketL2: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "polymarket-l2",
            abstract: "Compute Polymarket L2 request signatures (HMAC-SHA256) for JSON lines on stdin.",
            discussion: """
                Each input line: {"secret":"…","timestamp":"…","method":"POST","path":"/order","body":"…" or null}; \
                each output line: {"signature":"…"} (base64url). A bad line stops with a one-line error naming it.
                """
        )

        func run() throws {
            let signing = PolymarketSigning()
            try Arb.Sign.eachLine("polymarket-l2") { try signing.signL2(line: $0) }
        }
    }
}

import ArbEngine
import ArgumentParser
import Foundation

extension Arb {
    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the exact signed requests arb would send to a venue; sends nothing.",
            subcommands: [KalshiOrder.self]
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

import ArbTestSupport
import Foundation
import Testing
import OrderStateMachine

// All expected values below are worked out by hand in the comments (P in dollars,
// C in contracts); none is obtained by calling the function under test.

// MARK: - Helpers

private func price(_ ticks: Int64) -> Price { Price(uncheckedTicks: ticks) }
private func qty(_ hundredths: Int64) -> Quantity { Quantity(hundredths: hundredths)! }

/// Namespace so `--filter MoneyTests` selects exactly these suites.
@Suite struct MoneyTests {}

// MARK: - Price

extension MoneyTests {
    @Suite struct PriceTests {
        @Test(arguments: [
            ("0.45", 4500),
            ("0.4512", 4512),
            (".5", 5000),
            ("0.5", 5000),
            ("0.5000", 5000),
            ("0.10", 1000),
            ("0.0001", 1),      // smallest valid price
            ("0.9999", 9999),   // largest valid price
            ("00.25", 2500),
        ] as [(String, Int64)])
        func parsingAccepts(text: String, ticks: Int64) {
            #expect(Price(parsing: text)?.ticks == ticks)
        }

        @Test(arguments: [
            "1.0",          // = $1, outside the open interval
            "1",
            "0",            // = $0
            "0.0",
            "0.0000",
            "0.00001",      // 5 decimals
            "0.45120",      // 5 decimals even though the last is zero
            "1.5",
            "-0.5",         // sign
            "+0.5",
            "1e-2",         // exponent
            "5e-1",
            "",
            " 0.5",         // whitespace
            "0.5 ",
            "0.5\n",
            ".",
            "0.",           // dot without decimals
            "0.4.5",
            "0,5",
            "abc",
            "0x1",
            "\u{0660}.\u{0665}",  // Arabic-Indic digits are not ASCII digits
            "99999999999999999999.5",  // would overflow Int64: rejected, no trap
        ])
        func parsingRejects(text: String) {
            #expect(Price(parsing: text) == nil)
        }

        @Test func tickRange() {
            #expect(Price(ticks: 0) == nil)
            #expect(Price(ticks: -1) == nil)
            #expect(Price(ticks: 10_000) == nil)
            #expect(Price(ticks: .max) == nil)
            #expect(Price(ticks: 1)?.ticks == 1)
            #expect(Price(ticks: 9_999)?.ticks == 9_999)
            #expect(Price.ticksPerDollar == 10_000)
        }

        @Test(arguments: [
            (4500, 5500),  // 1 − 0.45 = 0.55
            (1, 9999),     // 1 − 0.0001 = 0.9999
            (5000, 5000),  // 1 − 0.50 = 0.50
            (3712, 6288),  // 1 − 0.3712 = 0.6288
        ] as [(Int64, Int64)])
        func complement(ticks: Int64, expected: Int64) {
            #expect(price(ticks).complement.ticks == expected)
            #expect(price(expected).complement.ticks == ticks)
        }

        @Test(arguments: [
            (4500, "0.4500"),
            (1, "0.0001"),
            (9999, "0.9999"),
            (4512, "0.4512"),
            (500, "0.0500"),
        ] as [(Int64, String)])
        func description(ticks: Int64, expected: String) {
            #expect(price(ticks).description == expected)
            #expect("\(price(ticks))" == expected)
        }

        @Test func ordering() {
            #expect(price(4499) < price(4500))
            #expect(!(price(4500) < price(4500)))
            #expect([price(7000), price(1), price(4500)].sorted().map(\.ticks) == [1, 4500, 7000])
        }

        @Test func codableRoundTripAsIntegerTicks() throws {
            let data = try JSONEncoder().encode([price(4500), price(1), price(9999)])
            #expect(String(decoding: data, as: UTF8.self) == "[4500,1,9999]")
            let decoded = try JSONDecoder().decode([Price].self, from: data)
            #expect(decoded.map(\.ticks) == [4500, 1, 9999])
        }

        @Test(arguments: ["0", "10000", "-1", "9223372036854775807"])
        func decodingRejectsOutOfRange(json: String) {
            do {
                _ = try JSONDecoder().decode(Price.self, from: Data(json.utf8))
                Issue.record("decoded out-of-range price \(json)")
            } catch DecodingError.dataCorrupted(let context) {
                #expect(context.debugDescription.contains("1...9999"))
            } catch {
                Issue.record("wrong error for \(json): \(error)")
            }
        }

        @Test(arguments: ["\"0.45\"", "45.5", "null", "true"])
        func decodingRejectsNonIntegers(json: String) {
            #expect(throws: DecodingError.self) {
                _ = try JSONDecoder().decode(Price.self, from: Data(json.utf8))
            }
        }

        @Test func uncheckedTicksOutOfRangeTraps() async {
            await #expect(processExitsWith: .failure) {
                _ = Price(uncheckedTicks: 10_000)
            }
        }
    }
}

// MARK: - Quantity

extension MoneyTests {
    @Suite struct QuantityTests {
        @Test(arguments: [
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            ("0.01", 1),
            ("0", 0),
            ("0.00", 0),
            (".5", 50),
            ("007", 700),
            ("92233720368547758.07", Int64.max),  // exactly Int64.max hundredths
        ] as [(String, Int64)])
        func parsingAccepts(text: String, hundredths: Int64) {
            #expect(Quantity(parsing: text)?.hundredths == hundredths)
        }

        @Test(arguments: [
            "-1",
            "-0.01",
            "+1",
            "1.234",   // 3 decimals
            "0.001",
            "",
            " 1",
            "1 ",
            "1e2",
            ".",
            "1.",
            "1,5",
            "NaN",
            "inf",
            "92233720368547758.08",  // Int64.max + 1 hundredths
            "99999999999999999999",
        ])
        func parsingRejects(text: String) {
            #expect(Quantity(parsing: text) == nil)
        }

        @Test func initializers() {
            #expect(Quantity(hundredths: -1) == nil)
            #expect(Quantity(hundredths: 0)?.isZero == true)
            #expect(Quantity(contracts: 3).hundredths == 300)
            #expect(Quantity.zero.hundredths == 0)
            #expect(Quantity.zero.isZero)
            #expect(!qty(1).isZero)
        }

        @Test func arithmeticAndOrdering() {
            // 12.50 + 0.01 = 12.51
            #expect((qty(1250) + qty(1)).hundredths == 1251)
            // 12.50 − 2.50 = 10.00
            #expect((qty(1250) - qty(250)).hundredths == 1000)
            // 5.00 − 5.00 = 0
            #expect((qty(500) - qty(500)).isZero)
            var q = qty(100)
            q += qty(50)
            #expect(q.hundredths == 150)
            q -= qty(150)
            #expect(q.isZero)
            #expect(min(qty(300), qty(299)).hundredths == 299)
            #expect(max(qty(300), qty(299)).hundredths == 300)
            #expect(qty(1) < qty(2))
        }

        @Test(arguments: [
            (1250, "12.50"),
            (0, "0.00"),
            (1, "0.01"),
            (100, "1.00"),
            (123_456, "1234.56"),
        ] as [(Int64, String)])
        func description(hundredths: Int64, expected: String) {
            #expect(qty(hundredths).description == expected)
        }

        @Test func codable() throws {
            let data = try JSONEncoder().encode(qty(1250))
            #expect(String(decoding: data, as: UTF8.self) == "1250")
            #expect(try JSONDecoder().decode(Quantity.self, from: Data("0".utf8)).isZero)
            #expect(try JSONDecoder().decode(Quantity.self, from: data).hundredths == 1250)
            do {
                _ = try JSONDecoder().decode(Quantity.self, from: Data("-1".utf8))
                Issue.record("decoded a negative quantity")
            } catch DecodingError.dataCorrupted(let context) {
                #expect(context.debugDescription.contains("negative"))
            } catch {
                Issue.record("wrong error: \(error)")
            }
        }

        @Test func subtractingMoreThanYouHaveTraps() async {
            await #expect(processExitsWith: .failure) {
                _ = Quantity(hundredths: 100)! - Quantity(hundredths: 101)!
            }
        }
    }
}

// MARK: - Money

extension MoneyTests {
    @Suite struct MoneyValueTests {
        @Test(arguments: [
            (12_345_678, "$12.345678", "12.345678"),
            (1_500_000, "$1.50", "1.50"),
            (-250_000, "-$0.25", "-0.25"),
            (0, "$0.00", "0.00"),
            (1, "$0.000001", "0.000001"),
            (-1, "-$0.000001", "-0.000001"),
            (10, "$0.00001", "0.00001"),
            (100_000, "$0.10", "0.10"),
            (1_230_000, "$1.23", "1.23"),
            (1_234_000, "$1.234", "1.234"),
            (123_000_000, "$123.00", "123.00"),
            (Int64.max, "$9223372036854.775807", "9223372036854.775807"),
            (Int64.min, "-$9223372036854.775808", "-9223372036854.775808"),
        ] as [(Int64, String, String)])
        func formatting(micros: Int64, description: String, decimal: String) {
            let money = Money(micros: micros)
            #expect(money.description == description)
            #expect(money.decimalString == decimal)
        }

        @Test(arguments: [
            (4500, 1250, 5_625_000),               // 0.45 × 12.5 = 5.625
            (1, 1, 1),                             // 0.0001 × 0.01 = 0.000001
            (1234, 567, 699_678),                  // 0.1234 × 5.67 = 0.699678
            (9999, 100_000_000, 999_900_000_000),  // 0.9999 × 1,000,000 = 999,900
            (5000, 0, 0),
        ] as [(Int64, Int64, Int64)])
        func notionalIsExact(ticks: Int64, hundredths: Int64, micros: Int64) {
            #expect(Money(price: price(ticks), quantity: qty(hundredths)).micros == micros)
        }

        @Test func arithmetic() {
            #expect(Money(cents: 150).micros == 1_500_000)
            #expect(Money(cents: -3).micros == -30_000)
            #expect(Money.zero.micros == 0)
            #expect((Money(micros: 5) + Money(micros: 7)).micros == 12)
            #expect((Money(micros: 5) - Money(micros: 7)).micros == -2)
            #expect((-Money(micros: 5)).micros == -5)
            var m = Money(micros: 100)
            m += Money(micros: 1)
            #expect(m.micros == 101)
            m -= Money(micros: 201)
            #expect(m.micros == -100)
            #expect(Money(micros: -1) < Money.zero)
            #expect(max(Money(micros: 3), Money(micros: -4)).micros == 3)
        }

        @Test func codable() throws {
            let data = try JSONEncoder().encode(Money(micros: -250_000))
            #expect(String(decoding: data, as: UTF8.self) == "-250000")
            #expect(try JSONDecoder().decode(Money.self, from: data).micros == -250_000)
            #expect(throws: DecodingError.self) {
                _ = try JSONDecoder().decode(Money.self, from: Data("\"1.50\"".utf8))
            }
        }
    }
}

// MARK: - Fees

extension MoneyTests {
    @Suite struct FeeTests {
        /// Kalshi taker: ceil to cent of 0.07 × C × P × (1 − P).
        @Test(arguments: [
            // P=0.50, C=100: 0.07 × 100 × 0.25 = 1.75 → $1.75 exactly
            (5000, 10_000, 175),
            // P=0.45, C=10: 0.07 × 10 × 0.45 × 0.55 = 0.07 × 2.475 = 0.17325 → $0.18
            (4500, 1_000, 18),
            // P=0.01, C=1: 0.07 × 0.01 × 0.99 = 0.07 × 0.0099 = 0.000693 → $0.01
            (100, 100, 1),
            // P=0.50, C=0.01 (fractional): 0.07 × 0.01 × 0.25 = 0.000175 → $0.01
            (5000, 1, 1),
            // Smallest non-zero fee, P=0.0001, C=0.01: 0.07 × 0.01 × 0.0001 × 0.9999
            //   = 0.000000069993 → $0.01 (any positive fraction of a cent rounds up)
            (1, 1, 1),
            // P=0.50, C=4: 0.07 × 4 × 0.25 = 0.07 exactly → $0.07 (not bumped to $0.08)
            (5000, 400, 7),
            // P=0.99, C=100: 0.07 × 100 × 0.0099 = 0.0693 → $0.07
            (9900, 10_000, 7),
            // P=0.30, C=1000: 0.07 × 1000 × 0.21 = 14.70 → $14.70
            (3000, 100_000, 1_470),
            // P=0.4512, C=12.34: 0.4512 × 0.5488 = 0.24761856; × 12.34 = 3.0556130304;
            //   × 0.07 = 0.213892912128 → $0.22
            (4512, 1_234, 22),
            // C=0: no fee
            (5000, 0, 0),
            // P=0.50, C=10,000,000,000,000: 0.07 × 1e13 × 0.25 = 1.75e11 dollars
            //   (intermediate 700 × 1e15 × 25e6 exceeds Int64)
            (5000, 1_000_000_000_000_000, 17_500_000_000_000),
        ] as [(Int64, Int64, Int64)])
        func kalshiTaker(ticks: Int64, hundredths: Int64, cents: Int64) {
            let fee = Fees.kalshiTaker(price: price(ticks), quantity: qty(hundredths))
            #expect(fee.micros == cents * 10_000)
            #expect(FeeModel.kalshiTaker.fee(price: price(ticks), quantity: qty(hundredths)).micros == cents * 10_000)
        }

        /// Kalshi maker: ceil to cent of 0.0175 × C × P × (1 − P).
        @Test(arguments: [
            // P=0.50, C=100: 0.0175 × 100 × 0.25 = 0.4375 → $0.44
            (5000, 10_000, 44),
            // P=0.50, C=400: 0.0175 × 400 × 0.25 = 1.75 → $1.75 exactly
            (5000, 40_000, 175),
            // P=0.10, C=10: 0.0175 × 10 × 0.09 = 0.01575 → $0.02
            (1000, 1_000, 2),
            // P=0.45, C=10: 0.0175 × 2.475 = 0.0433125 → $0.05
            (4500, 1_000, 5),
            // P=0.01, C=0.01: 0.0175 × 0.01 × 0.0099 = 0.00000173… → $0.01
            (100, 1, 1),
            // P=0.20, C=25: 0.0175 × 25 × 0.16 = 0.07 exactly → $0.07
            (2000, 2_500, 7),
            // P=0.0001, C=0.01: 0.0175 × 0.01 × 0.0001 × 0.9999 = 0.0000000174983 → $0.01
            (1, 1, 1),
        ] as [(Int64, Int64, Int64)])
        func kalshiMaker(ticks: Int64, hundredths: Int64, cents: Int64) {
            let fee = Fees.kalshiMaker(price: price(ticks), quantity: qty(hundredths))
            #expect(fee.micros == cents * 10_000)
            #expect(FeeModel.kalshiMaker.fee(price: price(ticks), quantity: qty(hundredths)).micros == cents * 10_000)
        }

        /// Kalshi fees are symmetric in P ↔ 1 − P and always whole cents.
        @Test(arguments: [1, 100, 2500, 4512, 4999] as [Int64])
        func kalshiSymmetricWholeCents(ticks: Int64) {
            let q = qty(3_333)
            let yes = Fees.kalshiTaker(price: price(ticks), quantity: q)
            let no = Fees.kalshiTaker(price: price(ticks).complement, quantity: q)
            #expect(yes == no)
            #expect(yes.micros % 10_000 == 0)
            #expect(yes > .zero)
        }

        struct PolymarketCase: Sendable, CustomTestStringConvertible {
            let ticks: Int64, hundredths: Int64, rateBps: Int64, exponent: Int, micros: Int64
            var testDescription: String { "P=\(ticks) h=\(hundredths) bps=\(rateBps) e=\(exponent)" }
        }

        /// Polymarket taker: floor to $0.00001 of C × rate × (P(1 − P))^exponent.
        @Test(arguments: [
            // e=1, rate 0.025, P=0.50, C=100: 100 × 0.025 × 0.25 = 0.625 → $0.625
            PolymarketCase(ticks: 5000, hundredths: 10_000, rateBps: 250, exponent: 1, micros: 625_000),
            // e=2, rate 0.25, P=0.50, C=100: 100 × 0.25 × 0.0625 = 1.5625 → $1.5625
            PolymarketCase(ticks: 5000, hundredths: 10_000, rateBps: 2500, exponent: 2, micros: 1_562_500),
            // Floor matters — e=1, rate 0.03, P=0.37, C=1: 0.37 × 0.63 = 0.2331;
            //   0.03 × 0.2331 = 0.006993 → $0.00699 (not $0.006993)
            PolymarketCase(ticks: 3700, hundredths: 100, rateBps: 300, exponent: 1, micros: 6_990),
            // Floor matters — e=2, rate 0.25, P=0.45, C=1: 0.2475² = 0.06125625;
            //   × 0.25 = 0.0153140625 → $0.01531
            PolymarketCase(ticks: 4500, hundredths: 100, rateBps: 2500, exponent: 2, micros: 15_310),
            // Floor matters — e=1, rate 0.072, P=0.45, C=33.33: 33.33 × 0.072 = 2.39976;
            //   × 0.2475 = 0.5939406 → $0.59394
            PolymarketCase(ticks: 4500, hundredths: 3_333, rateBps: 720, exponent: 1, micros: 593_940),
            // Floor matters — e=4, rate 1.0, P=0.50, C=100: 0.25⁴ = 0.00390625;
            //   × 100 = 0.390625 → $0.39062
            PolymarketCase(ticks: 5000, hundredths: 10_000, rateBps: 10_000, exponent: 4, micros: 390_620),
            // e=0 (flat), rate 0.01, C=10: 10 × 0.01 × 1 = 0.10 → $0.10 at any price
            PolymarketCase(ticks: 3700, hundredths: 1_000, rateBps: 100, exponent: 0, micros: 100_000),
            // Fractional — e=1, rate 1.0, P=0.50, C=0.01: 0.01 × 0.25 = 0.0025 → $0.0025
            PolymarketCase(ticks: 5000, hundredths: 1, rateBps: 10_000, exponent: 1, micros: 2_500),
            // Floors to zero — e=2, rate 0.25, P=0.01, C=0.01: 0.0099² = 0.00009801;
            //   × 0.25 × 0.01 = 0.000000245025 → $0
            PolymarketCase(ticks: 100, hundredths: 1, rateBps: 2500, exponent: 2, micros: 0),
            // Floors to zero — e=1, rate 0.02, P=0.9999, C=1: 0.9999 × 0.0001 = 0.00009999;
            //   × 0.02 = 0.0000019998 → $0
            PolymarketCase(ticks: 9999, hundredths: 100, rateBps: 200, exponent: 1, micros: 0),
            // Zero rate → $0
            PolymarketCase(ticks: 5000, hundredths: 10_000, rateBps: 0, exponent: 1, micros: 0),
            // Huge intermediate (beyond 128 bits) — e=4, rate 1.0, P=0.50, C=1e13:
            //   1e13 × 0.00390625 = 39,062,500,000 dollars
            PolymarketCase(
                ticks: 5000, hundredths: 1_000_000_000_000_000, rateBps: 10_000, exponent: 4,
                micros: 39_062_500_000_000_000
            ),
        ])
        func polymarketTaker(_ c: PolymarketCase) {
            let fee = Fees.polymarketTaker(
                price: price(c.ticks), quantity: qty(c.hundredths), rateBps: c.rateBps, exponent: c.exponent
            )
            #expect(fee.micros == c.micros)
            #expect(fee.micros % 10 == 0)  // always a whole number of $0.00001
            let model = FeeModel.polymarketTaker(rateBps: c.rateBps, exponent: c.exponent)
            #expect(model.fee(price: price(c.ticks), quantity: qty(c.hundredths)).micros == c.micros)
        }

        @Test func freeModelChargesNothing() {
            #expect(FeeModel.free.fee(price: price(5000), quantity: qty(1_000_000)) == .zero)
        }

        @Test func feeModelCodableRoundTrip() throws {
            let models: [FeeModel] = [.kalshiTaker, .kalshiMaker, .polymarketTaker(rateBps: 250, exponent: 2), .free]
            let data = try JSONEncoder().encode(models)
            let decoded = try JSONDecoder().decode([FeeModel].self, from: data)
            #expect(decoded == models)
            #expect(decoded[2] != .polymarketTaker(rateBps: 250, exponent: 1))
        }

        @Test func polymarketRateOutOfRangeTraps() async {
            await #expect(processExitsWith: .failure) {
                _ = Fees.polymarketTaker(
                    price: Price(uncheckedTicks: 5000), quantity: Quantity(contracts: 1), rateBps: 10_001, exponent: 1
                )
            }
        }
    }
}

// MARK: - A share of an amount

extension MoneyTests {
    @Suite struct ShareTests {
        @Test("exact when it divides: $10 × 3 / 10 contracts = $3; part or whole zero is $0")
        func exact() {
            #expect(Money(micros: 10_000_000).share(qty(300), of: qty(1_000)) == Money(micros: 3_000_000))
            #expect(Money(micros: 10_000_000).share(.zero, of: qty(1_000)) == .zero)
            #expect(Money(micros: 10_000_000).share(qty(300), of: .zero) == .zero)
        }

        @Test("rounded up to the micro-dollar: $1 × 1/3 = 333,334 µ$, 1 µ$ × 1/3 = 1 µ$; a negative amount rounds towards +∞ (−$1 × 1/3 = −333,333 µ$)")
        func roundedUp() {
            #expect(Money(micros: 1_000_000).share(qty(100), of: qty(300)) == Money(micros: 333_334))
            #expect(Money(micros: 1).share(qty(1), of: qty(3)) == Money(micros: 1))
            #expect(Money(micros: -1_000_000).share(qty(100), of: qty(300)) == Money(micros: -333_333))
        }

        @Test("a large leg does not overflow: half of 1,000,000 contracts' $990,000 (9.9e11 µ$ × 5e7 hundredths is past Int64) is $495,000")
        func largeLeg() {
            // 1,000,000 contracts = 100,000,000 hundredths; half = 50,000,000.
            let cost = Money(micros: 990_000_000_000)
            #expect(cost.share(qty(50_000_000), of: qty(100_000_000)) == Money(micros: 495_000_000_000))
            // One contract of a million: 990,000,000,000 / 1,000,000 = 990,000 µ$ exactly.
            #expect(cost.share(qty(100), of: qty(100_000_000)) == Money(micros: 990_000))
        }

        @Test("a part larger than the whole saturates instead of trapping")
        func saturates() {
            #expect(Money(micros: .max).share(qty(200), of: qty(100)) == Money(micros: .max))
            // A quotient past 64 bits (the product's high word reaches the divisor) saturates too.
            #expect(Money(micros: .max).share(qty(1_000_000), of: qty(1)) == Money(micros: .max))
            #expect(Money(micros: -1_000).share(qty(Int64.max), of: qty(1)) == Money(micros: .min))
            #expect(Money(micros: .min + 1).share(qty(200), of: qty(100)) == Money(micros: .min))
        }
    }
}

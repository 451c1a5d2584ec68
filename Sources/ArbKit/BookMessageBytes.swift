import OrderStateMachine
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The book feeds' fast path reads the hot messages (Kalshi `orderbook_delta`, Polymarket
/// `price_change`) from their bytes, without Foundation and without a `String` per message.
///
/// It reads a strict subset of JSON, on purpose: objects and arrays, strings of printable ASCII
/// with no escape, integers of at most 18 digits, `true`, `false`, `null`. Whatever falls outside
/// that subset (an escape, a fraction or exponent, a nested value where a plain one was expected,
/// any non-ASCII byte) is not "an error" here: the reader answers nil and the book falls back to
/// `JSONSerialization`, which decides as it always did. So the fast path only ever handles texts
/// that `JSONSerialization` reads the same way, and the two agree on every input (the books'
/// differential test holds them to it).
public struct JSONByteScanner {
    public let bytes: UnsafeBufferPointer<UInt8>
    /// Where the reader stands. (Settable only so the readers can be `@inlinable`: the venue
    /// modules' parsers inline them, which took a fifth off a parse.)
    public var position = 0

    @inlinable
    public init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inlinable @inline(__always)
    public mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// Skips whitespace, then consumes `byte` if it is next.
    @inlinable @inline(__always)
    public mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// Only whitespace is left.
    @inlinable
    public mutating func atEnd() -> Bool {
        skipWhitespace()
        return position == bytes.count
    }

    /// A string's contents (between the quotes). nil for an escape, a control or non-ASCII byte,
    /// or no closing quote: the message is not the fast path's.
    @inlinable @inline(__always)
    public mutating func string() -> Range<Int>? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = position
        // Eight bytes at a time while none of them ends or spoils the string; the byte loop
        // below decides on the word that holds one (the word test is only ever too cautious).
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while position + 8 <= bytes.count, Self.isPlainWord(raw.loadUnaligned(fromByteOffset: position, as: UInt64.self)) {
                position += 8
            }
        }
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return start..<(position - 1)
            }
            guard byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "\\") else { return nil }
            position += 1
        }
        return nil
    }

    /// An object member's name and its colon.
    @inlinable @inline(__always)
    public mutating func key() -> Range<Int>? {
        guard let name = string(), consume(UInt8(ascii: ":")) else { return nil }
        return name
    }

    /// After a member or element: true when a comma says another follows, false when `close`
    /// ends the object or array, nil for anything else.
    @inlinable @inline(__always)
    public mutating func next(close: UInt8) -> Bool? {
        if consume(UInt8(ascii: ",")) { return true }
        if consume(close) { return false }
        return nil
    }

    /// `-?(0|[1-9][0-9]{0,17})` and nothing that would continue a JSON number after it (a
    /// fraction, an exponent, a 19th digit). `-0` is refused too: nil sends the message to the
    /// slow path, which reads every number JSON allows.
    @inlinable
    public mutating func integer() -> Int64? {
        skipWhitespace()
        var index = position
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else { return nil }
        var value: Int64 = 0
        if bytes[index] == UInt8(ascii: "0") {
            guard !negative else { return nil }
            index += 1
        } else {
            let first = index
            while index < bytes.count, Self.isDigit(bytes[index]) {
                guard index - first < 18 else { return nil }
                value = value * 10 + Int64(bytes[index] &- UInt8(ascii: "0"))
                index += 1
            }
        }
        if index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "0")...UInt8(ascii: "9"): return nil
            default: break
            }
        }
        position = index
        return negative ? -value : value
    }

    /// A value the caller does not read: a plain string, an integer, `true`, `false` or `null`.
    /// False for anything else (an object, an array, a fraction): the slow path reads those.
    @inlinable
    public mutating func skipPlainValue() -> Bool {
        skipWhitespace()
        guard position < bytes.count else { return false }
        switch bytes[position] {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return integer() != nil
        }
    }

    /// One non-empty object whose members named `names` are plain strings (each at most once; any
    /// other member a plain value): their ranges, nil where absent. Nil for anything else — the
    /// slow path reads it. Both venues' fast paths read their changes with it.
    @inlinable
    public mutating func stringMembers(
        _ names: (StaticString, StaticString, StaticString, StaticString)
    ) -> (Range<Int>?, Range<Int>?, Range<Int>?, Range<Int>?)? {
        var found: (Range<Int>?, Range<Int>?, Range<Int>?, Range<Int>?) = (nil, nil, nil, nil)
        guard consume(UInt8(ascii: "{")), !consume(UInt8(ascii: "}")) else { return nil }
        repeat {
            guard let key = key() else { return nil }
            if text(key, is: names.0) {
                guard found.0 == nil, let value = string() else { return nil }
                found.0 = value
            } else if text(key, is: names.1) {
                guard found.1 == nil, let value = string() else { return nil }
                found.1 = value
            } else if text(key, is: names.2) {
                guard found.2 == nil, let value = string() else { return nil }
                found.2 = value
            } else if text(key, is: names.3) {
                guard found.3 == nil, let value = string() else { return nil }
                found.3 = value
            } else {
                guard skipPlainValue() else { return nil }
            }
            guard let more = next(close: UInt8(ascii: "}")) else { return nil }
            if !more { break }
        } while true
        return found
    }

    @usableFromInline
    mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { return false }
        for offset in 0..<count where bytes[position + offset] != word.utf8Start[offset] { return false }
        position += count
        return true
    }

    /// The bytes in `range` are exactly `literal`.
    @inlinable @inline(__always)
    public func text(_ range: Range<Int>, is literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard range.count == count else { return false }
        let pointer = literal.utf8Start
        for offset in 0..<count where bytes[range.lowerBound + offset] != pointer[offset] { return false }
        return true
    }

    /// No byte of `word` is a quote, a backslash, a control character (below 0x20), DEL or
    /// non-ASCII: bit tricks that can only err towards false, never towards true.
    @inlinable @inline(__always)
    public static func isPlainWord(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZeroByte(_ value: UInt64) -> Bool { (value &- ones) & ~value & highs != 0 }
        let below0x20 = (word &- ones &* 0x20) & ~word & highs != 0
        return word & highs == 0 && !below0x20 && !hasZeroByte(word ^ (ones &* 0x22)) && !hasZeroByte(word ^ (ones &* 0x5C))
            && !hasZeroByte(word ^ (ones &* 0x7F))
    }

    @inlinable @inline(__always)
    public static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

// MARK: - Numbers

/// Money text read from bytes by the same grammar as `Price(parsing:)` and `Quantity(parsing:)`
/// (`FixedPointText.parseUnsigned`): the fast path accepts and refuses exactly what they do.
public enum FixedPointBytes {
    /// `FixedPointText.parseUnsigned` (the one grammar) of the bytes in `range`.
    @inlinable
    public static func unsigned(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, fractionDigits: Int) -> Int64? {
        FixedPointText.parseUnsigned(bytes: UnsafeBufferPointer(rebasing: bytes[range]), fractionDigits: fractionDigits)
    }

    /// `Price(parsing:)` of the bytes.
    @inlinable
    public static func price(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Price? {
        unsigned(bytes, range, fractionDigits: 4).flatMap(Price.init(ticks:))
    }
}

// MARK: - Keys

/// The watched markets' names, found by a message's bytes without building a `String`: an
/// open-addressing table of hashes, every hit confirmed byte for byte. The hash reads the length
/// and three 8-byte words (first, middle, last), not every byte: Polymarket's token ids are 77
/// digits, and a byte-serial hash of two of them was a fifth of a `price_change`'s parse. Names
/// that differ only elsewhere share a hash and cost a probe, never a wrong answer.
///
/// Only ASCII names go in. Swift compares strings by canonical equivalence, so an ASCII name in
/// a message can equal a configured non-ASCII one (U+212A KELVIN SIGN is "K"); when a name is not
/// ASCII, `isComplete` is false and a miss proves nothing (the caller takes the slow path).
public struct ByteKeyTable: Sendable {
    private let arena: [UInt8]
    /// Key `i` is `arena[offsets[i] ..< offsets[i + 1]]`; its value is `values[i]`.
    private let offsets: [Int]
    private let values: [Int]
    private let hashes: [UInt64]
    /// Entry index + 1 per bucket (0: empty); the count is a power of two at least twice the keys.
    private let buckets: [Int32]
    /// Every key given was ASCII: a miss means the text names none of them.
    public let isComplete: Bool

    /// - Parameter keys: names and the value each one is found as (distinct names).
    public init(_ keys: [(name: String, value: Int)]) {
        var arena: [UInt8] = []
        var offsets = [0]
        var values: [Int] = []
        var hashes: [UInt64] = []
        var complete = true
        for (name, value) in keys {
            guard name.utf8.allSatisfy({ $0 < 0x80 }) else {
                complete = false
                continue
            }
            arena.append(contentsOf: name.utf8)
            offsets.append(arena.count)
            values.append(value)
            hashes.append(Array(name.utf8).withUnsafeBytes { Self.hash($0) })
        }
        var bucketCount = 8
        while bucketCount < 2 * values.count { bucketCount *= 2 }
        var buckets = [Int32](repeating: 0, count: bucketCount)
        for (entry, hash) in hashes.enumerated() {
            var bucket = Int(truncatingIfNeeded: hash) & (bucketCount - 1)
            while buckets[bucket] != 0 { bucket = (bucket + 1) & (bucketCount - 1) }
            buckets[bucket] = Int32(entry + 1)
        }
        self.arena = arena
        self.offsets = offsets
        self.values = values
        self.hashes = hashes
        self.buckets = buckets
        self.isComplete = complete
    }

    /// The value of the key spelled by `bytes[range]`, if any.
    @inline(__always)
    public func value(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        let hash = Self.hash(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range])))
        let mask = buckets.count - 1
        var bucket = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = Int(buckets[bucket])
            if slot == 0 { return nil }
            let entry = slot - 1
            if hashes[entry] == hash, matches(entry, bytes, range) { return values[entry] }
            bucket = (bucket + 1) & mask
        }
    }

    private func matches(_ entry: Int, _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        let start = offsets[entry]
        guard offsets[entry + 1] - start == range.count else { return false }
        guard !range.isEmpty else { return true }
        return arena.withUnsafeBufferPointer { arena in
            memcmp(arena.baseAddress! + start, bytes.baseAddress! + range.lowerBound, range.count) == 0
        }
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        @inline(__always) func mix(_ value: UInt64) -> UInt64 {
            let value = (value ^ (value >> 33)) &* 0xff51_afd7_ed55_8ccd
            return value ^ (value >> 33)
        }
        let count = bytes.count
        var hash = UInt64(count) &* 0x9e37_79b9_7f4a_7c15
        if count >= 8 {
            hash = mix(hash ^ bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            hash = mix(hash ^ bytes.loadUnaligned(fromByteOffset: (count - 8) / 2, as: UInt64.self))
            hash = mix(hash ^ bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
        } else {
            for byte in bytes { hash = mix(hash ^ UInt64(byte)) }
        }
        return hash
    }
}

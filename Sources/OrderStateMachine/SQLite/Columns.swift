/// The columns of one record as the Store reads it, each named once: a case's position is its
/// index in the SELECT list, and its name (camelCase → snake_case) is the column's, so the list a
/// query selects and the reads that decode its rows cannot drift apart. Cases are declared in
/// SELECT order; the raw value is the position (`Int32`, from 0).
public protocol Columns: RawRepresentable, CaseIterable where RawValue == Int32 {}

extension Columns {
    /// `a, b, c` or, with `table`, `t.a, t.b, t.c`: the SELECT list, in case order.
    public static func list(table: String? = nil) -> String {
        let prefix = table.map { $0 + "." } ?? ""
        return allCases.map { prefix + $0.name }.joined(separator: ", ")
    }

    /// The column's name: the case's name in snake_case (`venueOrderID` → `venue_order_id`).
    public var name: String {
        var name = ""
        var previous: Character?
        for character in String(describing: self) {
            if character.isUppercase, let previous, previous.isLowercase || previous.isNumber { name.append("_") }
            name.append(character.lowercased().first!)
            previous = character
        }
        return name
    }

    /// How many columns the record takes: where the next record's columns start in a joined row.
    public static var width: Int32 { Int32(allCases.count) }
}

extension Row {
    /// A row whose columns start at `offset` (a record selected after another's in one row).
    public func int64<C: Columns>(_ column: C, at offset: Int32 = 0) -> Int64 { int64(column.rawValue + offset) }
    public func int<C: Columns>(_ column: C, at offset: Int32 = 0) -> Int { int(column.rawValue + offset) }
    public func text<C: Columns>(_ column: C, at offset: Int32 = 0) -> String { text(column.rawValue + offset) }
    public func optionalText<C: Columns>(_ column: C, at offset: Int32 = 0) -> String? { optionalText(column.rawValue + offset) }
    public func optionalInt64<C: Columns>(_ column: C, at offset: Int32 = 0) -> Int64? { optionalInt64(column.rawValue + offset) }
    public func isNull<C: Columns>(_ column: C, at offset: Int32 = 0) -> Bool { isNull(column.rawValue + offset) }
}

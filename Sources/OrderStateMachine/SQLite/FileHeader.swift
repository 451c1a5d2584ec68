#if canImport(Glibc)
import Glibc
#endif

/// What the first 100 bytes of a file say about it, read without SQLite
/// (https://sqlite.org/fileformat.html#the_database_header). Opening a foreign file through
/// SQLite could write to it (a hot journal rollback, a WAL switch, `-wal`/`-shm` beside it), so
/// both the trader's database and the paper venues' files are identified this way first.
public enum SQLiteFileHeader: Sendable, Equatable {
    case absent
    case directory
    case empty
    case notSQLite
    case sqlite(applicationID: Int32, userVersion: Int64)

    /// Reads `path`'s header. Throws the `strerror` text when the file exists but cannot be read.
    public static func read(path: String) throws(SQLiteFileHeaderError) -> SQLiteFileHeader {
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT { return .absent }
            throw SQLiteFileHeaderError(detail: String(cString: strerror(errno)))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { return .directory }
        if info.st_size == 0 { return .empty }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw SQLiteFileHeaderError(detail: String(cString: strerror(errno))) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 100)
        let count = header.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 100) }
        let magic = Array("SQLite format 3".utf8) + [0]
        guard count == 100, Array(header[0..<16]) == magic else { return .notSQLite }
        func bigEndian(_ offset: Int) -> UInt32 { header[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        return .sqlite(applicationID: Int32(bitPattern: bigEndian(68)), userVersion: Int64(Int32(bitPattern: bigEndian(60))))
    }
}

public struct SQLiteFileHeaderError: Error, Sendable {
    public let detail: String
}

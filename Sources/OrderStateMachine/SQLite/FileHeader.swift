#if canImport(Glibc)
import Glibc
#endif
import Synchronization

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
        // POSIX drops every lock a process holds on a file when it closes *any* descriptor of
        // that file. Opening and closing the header of a database this process already has open
        // would silently release its SQLite locks — another process could then checkpoint and
        // delete the WAL under it.
        let identity = FileIdentity(info)
        if OpenFiles.shared.isOpen(identity) {
            // Ours already (a connection of this process holds it): ask SQLite, which shares
            // its descriptors and locks within the process and never closes a locked one.
            do {
                let connection = try Connection(path: path, mode: .readOnly)
                return .sqlite(applicationID: Int32(truncatingIfNeeded: try connection.pragmaInteger("application_id")),
                               userVersion: try connection.pragmaInteger("user_version"))
            } catch {
                throw SQLiteFileHeaderError(detail: "\(error)")
            }
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw SQLiteFileHeaderError(detail: String(cString: strerror(errno))) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 100)
        let count = header.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 100) }
        let magic = Array("SQLite format 3".utf8) + [0]
        guard count == 100, Array(header[0..<16]) == magic else { return .notSQLite }
        func bigEndian(_ offset: Int) -> UInt32 { header[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        let read = SQLiteFileHeader.sqlite(applicationID: Int32(bitPattern: bigEndian(68)),
                                             userVersion: Int64(Int32(bitPattern: bigEndian(60))))
        return read
    }
}

/// A file by device and inode.
struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(info)
    }
}

/// The files this process's connections hold open (by inode, counted).
final class OpenFiles: Sendable {
    static let shared = OpenFiles()
    private let connections = Mutex<[FileIdentity: Int]>([:])

    func opened(_ identity: FileIdentity) {
        connections.withLock { $0[identity, default: 0] += 1 }
    }

    func closed(_ identity: FileIdentity) {
        connections.withLock { counts in
            let left = counts[identity, default: 1] - 1
            counts[identity] = left > 0 ? left : nil
        }
    }

    func isOpen(_ identity: FileIdentity) -> Bool {
        connections.withLock { $0[identity] != nil }
    }
}

public struct SQLiteFileHeaderError: Error, Sendable {
    public let detail: String
}

/// Creating a SQLite file so that it appears whole or not at all.
public enum SQLiteFileCreation {
    /// Builds the file under a temporary name (mode 0600 from the first byte, WAL), runs
    /// `initialize` on it, and links it into place: a crash during creation never leaves a
    /// half-made file at `path`, and two processes creating it at once cannot replace each
    /// other's file (the second link fails with EEXIST and the caller opens the first one's).
    /// Throws the reason as text; the caller names the file in its own error.
    public static func create(path: String, initialize: (Connection) throws -> Void) throws(SQLiteFileHeaderError) {
        let temporary = "\(path).creating-\(getpid())"
        removeFiles(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SQLiteFileHeaderError(detail: String(cString: strerror(errno))) }
        close(fd)
        do {
            let connection = try Connection(path: temporary, mode: .readWrite)
            try connection.execute("PRAGMA journal_mode = WAL")
            try initialize(connection)
            // Closing the only connection checkpoints the WAL into the file, so the header the
            // next open inspects is complete before the file gets its real name.
        } catch let error as SQLiteError {
            removeFiles(temporary)
            throw SQLiteFileHeaderError(detail: error.message)
        } catch {
            removeFiles(temporary)
            throw SQLiteFileHeaderError(detail: "\(error)")
        }
        if link(temporary, path) != 0 {
            if errno == EEXIST {
                removeFiles(temporary)
                return  // Another process created it first.
            }
            // A file system without hard links: fall back to rename (no race protection there).
            guard rename(temporary, path) == 0 else {
                let detail = String(cString: strerror(errno))
                removeFiles(temporary)
                throw SQLiteFileHeaderError(detail: detail)
            }
        } else {
            unlink(temporary)
        }
        syncDirectory(of: path)
    }

    static func removeFiles(_ path: String) {
        unlink(path)
        unlink(path + "-wal")
        unlink(path + "-shm")
    }

    /// Makes the new directory entry durable.
    static func syncDirectory(of path: String) {
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a whole small file (a config, a key file) with a refusal for each way it can go wrong.
public enum SmallFile {
    /// Reads a whole (small) file, refusing a missing, unreadable, non-regular or oversized one.
    /// `secret`: a key file, also refused when its group or others may read or write it (as ssh
    /// refuses a private key anyone else can read).
    public static func contents(path: String, limit: Int, noun: String,
                                secret: Bool = false) throws(SmallFileRefusal) -> [UInt8] {
        func failure(_ detail: String) -> SmallFileRefusal { SmallFileRefusal(detail: detail) }
        guard !path.isEmpty else { throw failure("is an empty path; allowed a path to a \(noun)") }
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it is
        // refused below as not a regular file. (Reads of a regular file ignore the flag.)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if descriptor < 0 {
            let code = errno
            switch code {
            case ENOENT: throw failure("does not exist; allowed a path to a \(noun)")
            case EACCES: throw failure("cannot be read (permission denied); allowed a readable \(noun)")
            default: throw failure("cannot be opened (\(errorText(code))); allowed a readable \(noun)")
            }
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw failure("cannot be examined (\(errorText(errno))); allowed a readable \(noun)")
        }
        guard (status.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG) else {
            let kind = (status.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR) ? "a directory" : "not a regular file"
            throw failure("is \(kind); allowed a \(noun)")
        }
        if secret, status.st_mode & mode_t(0o077) != 0 {
            let mode = String(status.st_mode & mode_t(0o777), radix: 8)
            throw failure("can be read or written by group or others (mode \(mode)); allowed a \(noun) only its owner "
                + "can use — run chmod 600 on it")
        }
        guard status.st_size <= limit else {
            throw failure("is \(status.st_size) bytes; allowed at most \(limit) bytes")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in read(descriptor, buffer.baseAddress, buffer.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot be read (\(errorText(errno))); allowed a readable \(noun)")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= limit else {
                throw failure("is more than \(limit) bytes; allowed at most \(limit) bytes")
            }
        }
        return bytes
    }

    public static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}

/// Why ``SmallFile/contents(path:limit:noun:)`` refused: `does not exist; allowed a path to a …`.
public struct SmallFileRefusal: Error, Sendable {
    public var detail: String
}

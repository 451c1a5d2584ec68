#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small pure helpers the sinks share: writing whole buffers.
public enum AlertText {
    /// Writes all of `bytes` to `descriptor`, retrying short writes and EINTR. Returns 0 or the errno.
    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            // A write of nothing to a file that takes bytes would loop forever; call it an I/O error.
            if written == 0 { return EIO }
            offset += written
        }
        return 0
    }

    static func errnoDescription(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small pure helpers the sinks share: JSON string literals, writing whole buffers.
public enum AlertText {
    /// `value` as a JSON string literal (RFC 8259 §7): quotes, backslashes and control
    /// characters escaped, everything else (including non-ASCII) as is.
    public static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

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

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small pure helpers the sinks share: JSON string literals, timestamps, writing whole buffers.
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

    /// `2024-05-01T12:34:56.789Z`: ISO 8601, UTC, milliseconds.
    static func iso8601(milliseconds: Int64) -> String {
        let (seconds, millis) = milliseconds.quotientAndRemainder(dividingBy: 1_000)
        // Floor division, so times before 1970 print correctly too.
        let wholeSeconds = millis < 0 ? seconds - 1 : seconds
        let fraction = millis < 0 ? millis + 1_000 : millis
        var time = time_t(wholeSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 3))Z"
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

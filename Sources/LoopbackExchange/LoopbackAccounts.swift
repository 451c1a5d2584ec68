import Foundation
import PolymarketVenue

/// The trader's accounts at the loopback exchange, made fresh for each start: a Kalshi RSA key
/// (its id and its PEM file) and a Polymarket wallet key with API credentials, each secret in its
/// own 0600 file in the exchange's directory, so a trader's config names files, never keys.
public struct LoopbackAccounts: Sendable {
    public let kalshiKey: RSAKeyPair
    public let kalshiKeyID: String
    public let kalshiKeyFile: String
    public let wallet: EthereumKey
    public let walletKeyFile: String
    public let credentials: PolymarketCredentials
    public let credentialsFile: String

    public static func generate(directory: String) throws -> LoopbackAccounts {
        let kalshiKey = try RSAKeyPair()
        let kalshiKeyFile = (directory as NSString).appendingPathComponent("loopback-kalshi-key.pem")
        try kalshiKey.writePrivateKey(to: kalshiKeyFile)

        var wallet: EthereumKey?
        var walletHex = ""
        while wallet == nil {
            walletHex = "0x" + randomHex(bytes: 32)
            wallet = try? EthereumKey(hex: walletHex)
        }
        let walletKeyFile = (directory as NSString).appendingPathComponent("loopback-polymarket-key")
        try writeSecret(walletHex + "\n", to: walletKeyFile)

        let credentials = PolymarketCredentials(
            apiKey: uuidText(), secret: Data(randomBytes(32)).base64EncodedString(), passphrase: randomHex(bytes: 16))
        let credentialsFile = (directory as NSString).appendingPathComponent("loopback-polymarket-credentials.json")
        let object = ["api_key": credentials.apiKey, "secret": credentials.secret, "passphrase": credentials.passphrase]
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try writeSecret(String(decoding: json, as: UTF8.self) + "\n", to: credentialsFile)
        return LoopbackAccounts(kalshiKey: kalshiKey, kalshiKeyID: "loopback-" + randomHex(bytes: 8), kalshiKeyFile: kalshiKeyFile,
                                wallet: wallet!, walletKeyFile: walletKeyFile, credentials: credentials, credentialsFile: credentialsFile)
    }

    /// Writes `text` to `path` readable by its owner only (0600 before any byte is written).
    static func writeSecret(_ text: String, to path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw LoopbackSetupError(description: "cannot create \(path): check that its directory exists and is writable")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(text.utf8))
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func randomHex(bytes: Int) -> String {
        randomBytes(bytes).map { String(format: "%02x", $0) }.joined()
    }

    static func uuidText() -> String { UUID().uuidString.lowercased() }
}

public struct LoopbackSetupError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

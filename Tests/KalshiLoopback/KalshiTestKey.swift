import LoopbackExchange

/// The tests' Kalshi account key: the loopback exchange's own RSA key pair.
public typealias KalshiTestKey = RSAKeyPair

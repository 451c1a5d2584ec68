public enum ArbEngineVersion { public static let string = "0.1.0" }

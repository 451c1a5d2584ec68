import ArbEngine
print("arb \(ArbEngineVersion.string)")

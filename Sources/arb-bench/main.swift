import ArbEngine
print("arb-bench \(ArbEngineVersion.string): no figures yet")

import ArbEngine
print("arbadmin \(ArbEngineVersion.string)")

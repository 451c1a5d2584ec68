// What venue adapters share with the engine (the Venue protocol, clocks, small-file reads) lives
// in ArbKit, below both; everything that imports ArbEngine sees it too.
@_exported import ArbKit

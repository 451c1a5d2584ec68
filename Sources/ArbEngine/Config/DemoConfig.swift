/// The built-in demo: five events paired across a paper `kalshi` and a paper `polymarket`, with
/// fill models that produce a rich mix of outcomes (full, partial and no fills, rejects, lost
/// answers, late fills, failed cancels). It is compiled in, so `arb run --demo` needs no file.
extension TraderConfig {
    /// The demo config's JSON text; also a commented-by-example template for a real config.
    ///
    /// The database is the default `arb.db` (arbadmin finds it without flags); the paper
    /// trades into a real trader's database in the same directory. `max_one_sided_per_day` is high
    /// so the demo does not halt itself early; console alerts are off (the demo prints a summary).
    public static let demoJSON: String = #"""
    {
      "database": "arb.db",
      "durability": "full",
      "events": [
        {
          "event_id": "FED-DEC-CUT",
          "outcomes": ["YES", "NO"],
          "instruments": {
            "kalshi": {"YES": "KXFED-25DEC-CUT-YES", "NO": "KXFED-25DEC-CUT-NO"},
            "polymarket": {"YES": "PM-FED-DEC-CUT-YES", "NO": "PM-FED-DEC-CUT-NO"}
          }
        },
        {
          "event_id": "NBA-FINALS-G7",
          "outcomes": ["CELTICS", "THUNDER"],
          "instruments": {
            "kalshi": {"CELTICS": "KXNBAG7-BOS", "THUNDER": "KXNBAG7-OKC"},
            "polymarket": {"CELTICS": "PM-NBA-G7-BOS", "THUNDER": "PM-NBA-G7-OKC"}
          }
        },
        {
          "event_id": "CPI-NOV-ABOVE-3",
          "outcomes": ["YES", "NO"],
          "instruments": {
            "kalshi": {"YES": "KXCPI-25NOV-T3.0-YES", "NO": "KXCPI-25NOV-T3.0-NO"},
            "polymarket": {"YES": "PM-CPI-NOV-3-YES", "NO": "PM-CPI-NOV-3-NO"}
          }
        },
        {
          "event_id": "SENATE-2026-CONTROL",
          "outcomes": ["DEM", "REP"],
          "instruments": {
            "kalshi": {"DEM": "KXSENATE-26-D", "REP": "KXSENATE-26-R"},
            "polymarket": {"DEM": "PM-SENATE-26-D", "REP": "PM-SENATE-26-R"}
          },
          "fees": {"polymarket": {"polymarket_taker": {"rate_bps": 0, "exponent": 1}}}
        },
        {
          "event_id": "BTC-100K-DEC31",
          "outcomes": ["YES", "NO"],
          "instruments": {
            "kalshi": {"YES": "KXBTC-25DEC31-100K-YES", "NO": "KXBTC-25DEC31-100K-NO"},
            "polymarket": {"YES": "PM-BTC-100K-DEC31-YES", "NO": "PM-BTC-100K-DEC31-NO"}
          }
        }
      ],
      "venues": {
        "kalshi": {
          "kind": "paper",
          "fee": "kalshi_taker",
          "paper": {
            "fill_model": {
              "full_fill_percent": 66,
              "partial_fill_percent": 12,
              "rest_percent": 12,
              "reject_percent": 6,
              "ambiguous_submit_percent": 4,
              "late_fill_percent": 40,
              "cancel_fail_percent": 15,
              "latency_ms_min": 1,
              "latency_ms_max": 4,
              "late_fill_delay_ms_max": 150,
              "seed": 1001
            }
          }
        },
        "polymarket": {
          "kind": "paper",
          "fee": {"polymarket_taker": {"rate_bps": 300, "exponent": 1}},
          "paper": {
            "fill_model": {
              "full_fill_percent": 66,
              "partial_fill_percent": 12,
              "rest_percent": 12,
              "reject_percent": 6,
              "ambiguous_submit_percent": 4,
              "late_fill_percent": 40,
              "cancel_fail_percent": 15,
              "latency_ms_min": 1,
              "latency_ms_max": 4,
              "late_fill_delay_ms_max": 150,
              "seed": 2002
            }
          }
        }
      },
      "detection": {
        "min_edge_bps": 50,
        "min_size": "1",
        "max_size": "25",
        "quote_staleness_ms": 400
      },
      "execution": {
        "time_in_force": "gtc",
        "fill_timeout_ms": 200
      },
      "risk": {
        "max_exposure_per_event_usd": "500.00",
        "max_exposure_total_usd": "2000.00",
        "max_one_sided_per_day": 1000,
        "cooldown_ms": 300,
        "one_sided_cooldown_ms": 1500
      },
      \#(demoUnwindSection),
      "alerts": {
        "console": false
      }
    }
    """#

    /// The demo's `unwind` section, one line (a test swaps it whole): one-sided exposures are
    /// completed or flattened within $0.05 a contract, so a demo run shows unwinds in its summary.
    public static let demoUnwindSection =
        #""unwind": {"policy": "best", "max_loss_per_contract": "0.05", "max_attempts": 3, "retry_ms": 100, "max_unwinds_per_market_per_day": 3}"#

    /// The built-in demo config (``demoJSON``), decoded and validated.
    ///
    /// - Precondition: the demo is valid — a test proves it; failing here is a programmer error.
    public static func demo() -> TraderConfig {
        do {
            return try decode(json: demoJSON, source: "built-in demo")
        } catch {
            preconditionFailure("the built-in demo config is invalid: \(error)")
        }
    }
}

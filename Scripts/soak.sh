#!/usr/bin/env bash
# Random kill -9 soak (issue 5, DESIGN §8): trade the built-in paper demo, SIGKILL the trader at a
# random moment, restart it on the same files, again and again; then a clean restart, a reconcile,
# and DESIGN §8's invariants checked with plain sqlite3 queries against the trader database and
# both paper venue files (what a venue really received), plus PRAGMA integrity_check on each file.
#
#   Scripts/soak.sh ROUNDS                 e.g. Scripts/soak.sh 20
#   SOAK_SEED=12345 Scripts/soak.sh 20     replay a run: the same seeds and the same kill delays
#   SOAK_KEEP=1 Scripts/soak.sh 5          keep the working directory even when everything holds
#   Scripts/soak.sh --wire ROUNDS          the same over the wire: against a standalone arb-exchange
#                                          (below)
#   Scripts/soak.sh --check DIR            run the soak's final checks on DIR (a kept working directory):
#                                          the invariants of DIR/arb.db, its venue files and alerts log,
#                                          and the proofs against DIR/soak-kills (below)
#
# Over the wire (--wire): the venues are the loopback exchange (`arb-exchange`, started once in
# the working directory with faults: answers delayed up to 200 ms, dropped after placing, 5xx,
# 429, 425, websocket sequence gaps, a silent market channel, Polymarket trades that fail after
# matching; SOAK_WIRE_FAULTS overrides), and
# every round trades it through the real Kalshi and Polymarket adapters and book feeds with its
# loopback-config.json, so each kill lands while HTTP requests and websocket messages are in
# flight. After the rounds the exchange restarts without faults on the same files (an exchange
# restart too), then the restart, `arbadmin reconcile` and the checks run as below, over arb.db
# and loopback-kalshi.db / loopback-polymarket.db, plus `arbadmin audit --all-closed`. A venue
# without client order ids (Polymarket) files an order under its venue order id; the checks match
# a venue's order to the leg by either.
#
# A soak that never caught the trader with an opportunity open would prove nothing, so it proves
# that it did: after every kill it records, in DIR/soak-kills, each opportunity the kill left open
# (one line per opportunity: `round|opportunity id|last transition id at the kill`), and at the end
# it requires that opportunities were created and sent, that at least one kill left one open, and
# that every opportunity a kill left open was later moved by recovery (a transition whose reason
# starts `recovery:`, written after the kill). The final line counts them.
#
# One seed drives bash's RANDOM, which picks every round's `arb run --seed` and its kill delay
# (0.2–2.5 s), so a failing run prints the command that replays it. Odd rounds trade the built-in
# demo as it is; even rounds the same demo (same events, venues and files) with venues as slow as
# real ones (every call answered in 100–400 ms, not 1–4 ms), a 1 s fill timeout and one-sided
# exposures unwound (`unwind` best, $0.50 a contract, so kills land inside unwinds too), so
# opportunities stay open — in flight, resting, being cancelled — for a good part of the round; in
# the plain demo one lives a few milliseconds and 20 random kills can all miss. Both are the demo's
# text from Sources/ArbEngine/Config/DemoConfig.swift. In an even round, when the random delay
# ends with nothing open, the kill waits (polling, at most 2 s more) for an opportunity to be open. (What the trader does within a
# round also depends on real-time pacing: a replay repeats the inputs, not every interleaving.)
#
# Builds nothing: expects .build/debug/arb, arbadmin and arb-exchange (`swift build` first). Exits 0 when every invariant
# holds, 1 with the violating rows when one does not, 2 for usage or a missing tool.
set -euo pipefail
checked=""
if [ "${1:-}" = "--check" ] && [ -d "${2:-}" ]; then checked=$(cd "$2" && pwd); fi
wire=""
if [ "${1:-}" = "--wire" ]; then wire=1; shift; fi
cd "$(dirname "$0")/.."

usage() {
  echo "usage: Scripts/soak.sh [--wire] ROUNDS   (ROUNDS ≥ 1; SOAK_SEED=N to replay a run)" >&2
  echo "       Scripts/soak.sh --check DIR" >&2
  exit 2
}

root=$(pwd)
arb="$root/.build/debug/arb"
admin="$root/.build/debug/arbadmin"
exchange="$root/.build/debug/arb-exchange"
exchange_pid=""
# The venues' own files: the paper venues', or the loopback exchange's (--wire).
files_prefix="paper-"
seed=""
reproduce=""
ok=0
running=""
work=""

if ! command -v sqlite3 >/dev/null 2>&1; then
  echo "soak: the sqlite3 shell is missing (apt-get install sqlite3)" >&2
  exit 2
fi

fail() {
  echo "soak: FAILED${seed:+ (seed $seed)}: $*" >&2
  if [ -n "$reproduce" ]; then echo "soak: reproduce with: $reproduce" >&2; fi
  exit 1
}

# MARK: - Invariants

# Each check below prints `soak: VIOLATION <name>` and the violating rows on stderr, and counts
# itself in `violations`; the names are what Tests/ArbEngineTests/SoakCheckTests.swift breaks one
# by one, so each check is shown to fail.
violations=0
check_dir=""

# violation NAME DETAIL: one failed check.
violation() {
  violations=$((violations + 1))
  echo "soak: VIOLATION $1" >&2
  if [ -n "${2:-}" ]; then echo "$2" | head -n 20 >&2; fi
}

# check NAME SQL: the query (over DIR/arb.db with both paper files attached) lists violating rows;
# none means the check holds.
check() {
  local name=$1 sql=$2 rows
  rows=$(sqlite3 -batch -header -column "$check_dir/arb.db" "ATTACH '$check_dir/${files_prefix}kalshi.db' AS kalshi;
    ATTACH '$check_dir/${files_prefix}polymarket.db' AS polymarket; $sql") || fail "the query for \"$name\" failed (its error above)"
  if [ -n "$rows" ]; then violation "$name" "$rows"; fi
}

# check_invariants DIR: DESIGN §8 over DIR/arb.db, the venues' files (DIR/paper-kalshi.db and
# DIR/paper-polymarket.db, or loopback-*.db) and DIR/data/alerts.log. A venue's order is the leg's
# whose client order id, or venue order id, it is filed under.
check_invariants() {
  check_dir=$1
  local dir=$1 db="$1/arb.db" file result venue key missing_lines failed_filter

  for file in arb.db "${files_prefix}kalshi.db" "${files_prefix}polymarket.db"; do
    [ -f "$dir/$file" ] || fail "$dir/$file does not exist"
    # A file SQLite cannot even read is a violation too, not a crash of the soak (set -e).
    result=$(sqlite3 -batch "$dir/$file" "PRAGMA integrity_check; PRAGMA foreign_key_check;" 2>&1) || true
    if [ "$result" != "ok" ]; then violation "integrity of $file" "$result"; fi
  done

  for venue in kalshi polymarket; do
    # A trade the loopback exchange failed after matching (Polymarket's FAILED) no longer counts.
    failed_filter=""
    if [ "$files_prefix" = "loopback-" ]; then
      failed_filter="AND f.trade_id NOT IN (SELECT trade_id FROM $venue.loopback_failed_trades)"
    fi
    # 1. Every order the venue received maps to exactly one leg, of that venue.
    check "1: $venue orders without exactly one leg of $venue" "
      SELECT o.client_order_id, o.status,
             (SELECT count(*) FROM main.legs l WHERE o.client_order_id IN (l.client_order_id, l.venue_order_id)
                AND l.venue = '$venue') AS legs,
             (SELECT group_concat(l.venue) FROM main.legs l WHERE o.client_order_id IN (l.client_order_id, l.venue_order_id)) AS leg_venues
      FROM $venue.paper_orders o WHERE legs <> 1
        AND NOT EXISTS (SELECT 1 FROM main.unwind_orders u WHERE u.client_order_id = o.client_order_id AND u.venue = '$venue')"
    # 1 and 6. An unwind order (issue 14) at the venue is its row's order, with the same fills.
    check "6: $venue unwind orders whose filled quantity or order differs from the venue's" "
      SELECT u.opportunity_id, u.attempt, u.client_order_id, u.filled_quantity AS ours, o.filled_quantity AS venue
      FROM main.unwind_orders u JOIN $venue.paper_orders o ON o.client_order_id = u.client_order_id
      WHERE u.venue = '$venue' AND (u.filled_quantity <> o.filled_quantity OR u.instrument <> o.instrument OR u.side <> o.side
                                    OR u.limit_price <> o.price)"
    # 1. And every leg the database says reached the venue is there.
    check "1: $venue legs the database says were placed, unknown to $venue" "
      SELECT l.opportunity_id, l.leg, l.client_order_id, l.status FROM main.legs l
      WHERE l.venue = '$venue' AND l.status IN ('open', 'partially_filled', 'filled', 'cancelled')
        AND NOT EXISTS (SELECT 1 FROM $venue.paper_orders o WHERE o.client_order_id IN (l.client_order_id, l.venue_order_id))"
    # 6. Each leg's filled quantity equals the venue's (its order's, and the sum of its fills there).
    check "6: $venue legs whose filled quantity differs from the venue's" "
      SELECT l.opportunity_id, l.leg, l.client_order_id, l.filled_quantity AS ours, o.filled_quantity AS venue,
             (SELECT coalesce(sum(f.quantity), 0) FROM $venue.paper_fills f WHERE f.client_order_id = o.client_order_id
                $failed_filter) AS venue_fills
      FROM main.legs l JOIN $venue.paper_orders o ON o.client_order_id IN (l.client_order_id, l.venue_order_id)
      WHERE l.filled_quantity <> o.filled_quantity OR o.filled_quantity <> venue_fills"
  done

  # 2. One order per leg; client order ids never reused (arb-<database id>-<opportunity>-<leg>).
  check "2: more than one order per leg" "
    SELECT opportunity_id, leg, count(*) AS orders FROM legs GROUP BY opportunity_id, leg HAVING count(*) > 1"
  check "2: client order ids reused or not arb-<database id>-<opportunity>-<leg>" "
    SELECT l.client_order_id, l.opportunity_id, l.leg FROM legs l
    WHERE l.client_order_id IS NOT 'arb-' || (SELECT value FROM settings WHERE key = 'database_id') || '-' || l.opportunity_id || '-' || l.leg
       OR (SELECT count(*) FROM legs x WHERE x.client_order_id = l.client_order_id) > 1"

  # 3. At most one live opportunity per dedup key.
  check "3: more than one live opportunity per dedup key" "
    SELECT dedup_key, count(*) AS live FROM opportunities WHERE state <> 'Closed' GROUP BY dedup_key HAVING count(*) > 1"

  # 4. Every logged transition is legal (DESIGN §3's table, as data), each opportunity's log is one
  #    unbroken chain from Detected, and the current state is the last logged one.
  local legal="legal(from_state, to_state, outcome) AS (VALUES
      (NULL, 'Detected', NULL),
      ('Detected', 'InFlight', NULL),
      ('Detected', 'Closed', 'abandoned'),
      ('InFlight', 'LegsPlaced', NULL),
      ('InFlight', 'OneSided', NULL),
      ('InFlight', 'Closed', 'rejected'),
      ('InFlight', 'Closed', 'no_fill'),
      ('LegsPlaced', 'Filled', NULL),
      ('LegsPlaced', 'OneSided', NULL),
      ('LegsPlaced', 'CancelAttempted', NULL),
      ('OneSided', 'CancelAttempted', NULL),
      ('OneSided', 'Filled', NULL),
      ('CancelAttempted', 'Filled', NULL),
      ('CancelAttempted', 'Closed', 'one_sided'),
      ('CancelAttempted', 'Closed', 'no_fill'),
      ('CancelAttempted', 'Unwinding', NULL),
      ('Unwinding', 'Closed', 'completed'),
      ('Unwinding', 'Closed', 'flattened'),
      ('Unwinding', 'Closed', 'one_sided'),
      ('Unwinding', 'Closed', 'manual'),
      ('Closed', 'Unwinding', NULL),
      ('Filled', 'Closed', 'hedged'),
      ('Filled', 'OneSided', NULL),
      ('Detected', 'Closed', 'manual'),
      ('InFlight', 'Closed', 'manual'),
      ('LegsPlaced', 'Closed', 'manual'),
      ('OneSided', 'Closed', 'manual'),
      ('CancelAttempted', 'Closed', 'manual'),
      ('Filled', 'Closed', 'manual'))"
  check "4: illegal transitions in the log" "
    WITH $legal
    SELECT t.id, t.opportunity_id, t.from_state, t.to_state, t.outcome FROM transitions t
    WHERE NOT EXISTS (SELECT 1 FROM legal l
                      WHERE l.from_state IS t.from_state AND l.to_state = t.to_state AND l.outcome IS t.outcome)"
  check "4: logs that do not chain from Detected" "
    SELECT id, opportunity_id, from_state, previous_to FROM (
      SELECT t.*, lag(t.to_state) OVER (PARTITION BY t.opportunity_id ORDER BY t.id) AS previous_to FROM transitions t)
    WHERE from_state IS NOT previous_to"
  check "4: current state differs from the last logged" "
    SELECT o.id, o.state, o.outcome, t.to_state AS logged, t.outcome AS logged_outcome FROM opportunities o
    LEFT JOIN transitions t ON t.id = (SELECT max(id) FROM transitions WHERE opportunity_id = o.id)
    WHERE t.id IS NULL OR t.to_state IS NOT o.state OR t.outcome IS NOT o.outcome"

  # 5. After recovery with every venue reachable, nothing is left open.
  check "5: opportunities left non-terminal" "
    SELECT id, dedup_key, state, state_reason FROM opportunities WHERE state <> 'Closed'"

  # 10. An unwind takes back at most the exposure it set out to (the legs' difference), its orders agree on that exposure,
  #     and the loss its fills realised (each against its share of what the held contracts cost, fees included; integer
  #     division as the trader's) is within the budget of its last order (an operator's unwind may set a new one), give or
  #     take a micro-dollar per fill.
  check "10: unwinds past their exposure or their loss budget" "
    WITH u AS (
      SELECT opportunity_id, min(exposure_quantity) AS e_min, max(exposure_quantity) AS e, sum(filled_quantity) AS unwound,
             (SELECT z.loss_budget_micros FROM unwind_orders z WHERE z.opportunity_id = x.opportunity_id
              ORDER BY z.attempt DESC LIMIT 1) AS budget
      FROM unwind_orders x GROUP BY opportunity_id),
    held AS (
      SELECT a.opportunity_id AS id,
             max(a.filled_quantity, b.filled_quantity) AS filled,
             CASE WHEN a.filled_quantity >= b.filled_quantity THEN a.filled_cost_micros + a.fees_micros
                  ELSE b.filled_cost_micros + b.fees_micros END AS cost,
             abs(a.filled_quantity - b.filled_quantity) AS diff
      FROM legs a JOIN legs b ON b.opportunity_id = a.opportunity_id AND b.leg = 'b' WHERE a.leg = 'a'),
    loss AS (
      SELECT x.opportunity_id, sum(CASE WHEN x.action = 'complete'
               THEN (h.cost * u.e / h.filled) * x.filled_quantity / u.e + x.filled_cost_micros + x.fees_micros - x.filled_quantity * 10000
               ELSE (h.cost * u.e / h.filled) * x.filled_quantity / u.e - (x.filled_cost_micros - x.fees_micros) END) AS realised,
             (SELECT count(*) FROM unwind_fills f JOIN unwind_orders y ON y.id = f.unwind_order_id
              WHERE y.opportunity_id = x.opportunity_id AND f.reversed_at_ms IS NULL) AS slack
      FROM unwind_orders x JOIN u ON u.opportunity_id = x.opportunity_id JOIN held h ON h.id = x.opportunity_id
      WHERE x.filled_quantity > 0 GROUP BY x.opportunity_id)
    SELECT u.opportunity_id, u.e AS exposure, h.diff AS legs_differ_by, u.unwound, u.budget, l.realised
    FROM u LEFT JOIN held h ON h.id = u.opportunity_id LEFT JOIN loss l ON l.opportunity_id = u.opportunity_id
    WHERE h.id IS NULL OR u.e_min <> u.e OR h.diff <> u.e OR u.unwound > u.e
       OR coalesce(l.realised, 0) > u.budget + coalesce(l.slack, 0)"

  # 6. A leg's recorded fills (less those its venue undid) add up to its filled quantity; every opportunity with unequal leg
  #    fills has a one-sided alert, delivered to the file sink …
  check "6: legs whose fills do not add up" "
    SELECT l.id, l.client_order_id, l.filled_quantity,
           (SELECT coalesce(sum(quantity), 0) FROM fills f WHERE f.leg_id = l.id
              AND NOT EXISTS (SELECT 1 FROM fill_reversals r WHERE r.fill_id = f.id)) AS fills
    FROM legs l WHERE l.filled_quantity <> fills"
  check "6: one-sided exposure without a one-sided alert delivered to the file sink" "
    SELECT o.id, o.state, o.outcome, a.filled_quantity AS filled_a, b.filled_quantity AS filled_b FROM opportunities o
    JOIN legs a ON a.opportunity_id = o.id AND a.leg = 'a' JOIN legs b ON b.opportunity_id = o.id AND b.leg = 'b'
    WHERE a.filled_quantity <> b.filled_quantity AND o.outcome IS NOT 'manual'
      AND NOT EXISTS (SELECT 1 FROM alerts x JOIN alert_deliveries d ON d.alert_id = x.id
                      WHERE x.opportunity_id = o.id AND x.kind LIKE 'one_sided%' AND d.sink = 'file'
                        AND d.delivered_at_ms IS NOT NULL)"
  # … where "delivered" means the line is in the file, not only marked so in the database.
  missing_lines=0
  while IFS= read -r key; do
    [ -n "$key" ] || continue
    if ! grep -qF "\"id\":\"$key\"" "$dir/data/alerts.log" 2>/dev/null; then
      missing_lines=$((missing_lines + 1))
      echo "soak: alert $key is marked delivered to file but is not in data/alerts.log" >&2
    fi
  done < <(sqlite3 -batch -noheader "$db" "SELECT x.alert_key FROM alerts x JOIN alert_deliveries d ON d.alert_id = x.id
                                           WHERE d.sink = 'file' AND d.delivered_at_ms IS NOT NULL")
  if [ "$missing_lines" -ne 0 ]; then
    violation "6: alerts marked delivered to file but missing from data/alerts.log" "$missing_lines alerts"
  fi

  # 7. Nothing is ever deleted: every opportunity has its legs' transitions (InFlight and later
  #    states imply both legs), and the transition log's ids have no gaps (an insert takes
  #    max(id) + 1, and a rolled-back insert leaves none). Opportunity ids do have gaps: they are
  #    reserved in blocks (9), so the log is what shows a deleted row.
  check "7: transition log ids with gaps (a deleted row)" "
    SELECT count(*) AS rows, max(id) AS max_id FROM transitions HAVING count(*) <> coalesce(max(id), 0)"
  # 9. Ids are never reused: every opportunity id lies within what the reservations committed.
  check "9: opportunity ids beyond the reserved mark" "
    SELECT o.id, s.value AS reserved FROM opportunities o
    LEFT JOIN settings s ON s.key = 'opportunity_ids_reserved'
    WHERE s.value IS NULL OR o.id > CAST(s.value AS INTEGER)"
  check "7: opportunities past Detected without both legs" "
    SELECT o.id, o.state, (SELECT count(*) FROM legs l WHERE l.opportunity_id = o.id) AS legs FROM opportunities o
    WHERE EXISTS (SELECT 1 FROM transitions t WHERE t.opportunity_id = o.id AND t.to_state = 'InFlight') AND legs <> 2"
}

# check_proofs DIR: what the run must have exercised for its invariants to mean anything
# (DIR/soak-kills is the record the kill rounds write; see the top of this file).
check_proofs() {
  check_dir=$1
  local dir=$1 record="$1/soak-kills" values

  check "proof: no opportunity was created and sent (none reached InFlight)" "
    SELECT count(*) AS sent FROM transitions WHERE to_state = 'InFlight' HAVING count(*) = 0"
  if [ ! -f "$record" ]; then
    violation "proof: no kill record" "$record does not exist"
    return 0
  fi
  if ! grep -qE '^[0-9]+\|[0-9]+\|[0-9]+$' "$record"; then
    violation "proof: no kill caught an open opportunity" "$(wc -l <"$record") lines in $record"
    return 0
  fi
  if grep -vqE '^[0-9]+\|[0-9]+\|[0-9]+$' "$record"; then
    violation "proof: unreadable lines in the kill record" "$(grep -vE '^[0-9]+\|[0-9]+\|[0-9]+$' "$record")"
  fi
  values=$(grep -E '^[0-9]+\|[0-9]+\|[0-9]+$' "$record" | sed -E 's/^([0-9]+)\|([0-9]+)\|([0-9]+)$/(\1, \2, \3)/' | paste -sd, -)
  check "proof: an opportunity a kill left open that recovery never moved" "
    WITH caught(round, opportunity_id, last_transition) AS (VALUES $values)
    SELECT c.round, c.opportunity_id, c.last_transition, o.state, o.outcome FROM caught c
    LEFT JOIN opportunities o ON o.id = c.opportunity_id
    WHERE NOT EXISTS (SELECT 1 FROM transitions t WHERE t.opportunity_id = c.opportunity_id
                        AND t.id > c.last_transition AND t.reason LIKE 'recovery:%')"
}

# The counts the final line reports, from DIR/soak-kills: "KILLS_CAUGHT OPPORTUNITIES_CAUGHT".
caught_counts() {
  local record="$1/soak-kills"
  if [ ! -s "$record" ]; then echo "0 0"; return; fi
  echo "$(cut -d'|' -f1 "$record" | sort -u | wc -l) $(cut -d'|' -f2 "$record" | sort -u | wc -l)"
}

if [ "${1:-}" = "--check" ]; then
  [ $# -eq 2 ] && [ -n "$checked" ] || usage
  if [ -f "$checked/loopback-kalshi.db" ]; then files_prefix="loopback-"; fi
  check_invariants "$checked"
  check_proofs "$checked"
  if [ "$violations" -ne 0 ]; then echo "soak: $violations checks failed in $checked (rows above)" >&2; exit 1; fi
  read -r caught_kills caught_opportunities < <(caught_counts "$checked")
  echo "soak: $caught_kills kills caught $caught_opportunities open opportunities, each moved by recovery; invariants hold in $checked"
  exit 0
fi

# MARK: - Setup

[ $# -eq 1 ] || usage
rounds=$1
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage
for tool in "$arb" "$admin" ${wire:+"$exchange"}; do
  if [ ! -x "$tool" ]; then
    echo "soak: $tool is missing: run \`swift build\` first (the soak builds nothing itself)" >&2
    exit 2
  fi
done

seed=${SOAK_SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000000 ))}
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "soak: SOAK_SEED must be a non-negative integer" >&2; exit 2; }
RANDOM=$seed
reproduce="SOAK_SEED=$seed Scripts/soak.sh ${wire:+--wire }$rounds"

work=$(mktemp -d "${TMPDIR:-/tmp}/arb-soak.XXXXXX")
db="$work/arb.db"
log="$work/arb.log"
started=$SECONDS

finish() {
  if [ -n "$running" ] && kill -0 "$running" 2>/dev/null; then kill -9 "$running" 2>/dev/null || true; fi
  if [ -n "$exchange_pid" ] && kill -0 "$exchange_pid" 2>/dev/null; then kill -9 "$exchange_pid" 2>/dev/null || true; fi
  if [ "$ok" = 1 ] && [ -z "${SOAK_KEEP:-}" ]; then
    rm -rf "$work"
  else
    echo "soak: files kept in $work (arb output in $log)" >&2
  fi
}
trap finish EXIT

# Milliseconds as a `sleep` argument.
seconds() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# One `arb run` to its end; its exit status must be 0.
run_to_end() {
  local what=$1
  shift
  echo "== $what: arb run $*" >>"$log"
  local status=0
  "$arb" run ${venues_config[@]+"${venues_config[@]}"} --db "$db" --log-level error "$@" >>"$log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || fail "$what: arb run $* exited $status; last lines of $log:
$(tail -n 5 "$log")"
}

open_count() { sqlite3 -batch -noheader "$db" "SELECT count(*) FROM opportunities WHERE state <> 'Closed'"; }

# MARK: - Kill rounds

# After a kill: every opportunity it left open, with the last transition id, into the kill record.
# Read-only, so the hot WAL the kill left is recovered by the next trader, not by this query.
record_open() {
  local round=$1
  [ -f "$db" ] || return 0
  sqlite3 -batch -noheader -readonly "$db" "SELECT $round || '|' || o.id || '|' || (SELECT coalesce(max(id), 0) FROM transitions)
    FROM opportunities o WHERE o.state <> 'Closed' ORDER BY o.id" >>"$work/soak-kills" \
    || fail "round $round: cannot read $db after the kill"
}

# The demo's config with slow venues, for the even rounds.
slow_config="$work/demo-slow-venues.json"
sed -n '/^    public static let demoJSON: String = #"""$/,/^    """#$/p' "$root/Sources/ArbEngine/Config/DemoConfig.swift" \
  | sed '1d;$d' | sed -e 's/"fill_timeout_ms": 200/"fill_timeout_ms": 1000/' \
    -e 's/"latency_ms_min": 1,/"latency_ms_min": 100,/' -e 's/"latency_ms_max": 4,/"latency_ms_max": 400,/' \
    -e 's/^ *\\#(demoUnwindSection),$/  "unwind": {"policy": "best", "max_loss_per_contract": "0.50"},/' >"$slow_config"
[ "$(grep -c -e '"fill_timeout_ms": 1000' -e '"latency_ms_min": 100,' -e '"latency_ms_max": 400,' -e '"unwind": {"policy": "best"' "$slow_config")" -eq 6 ] \
  || { echo "soak: cannot derive the slow-venue config from DemoConfig.swift" >&2; exit 2; }

# How many opportunities are open right now (0 when the file cannot be read yet).
open_now() {
  sqlite3 -batch -noheader -readonly "$db" "SELECT count(*) FROM opportunities WHERE state <> 'Closed'" 2>/dev/null || echo 0
}

# Over the wire: the exchange, started in the working directory; its first lines are its URLs,
# its config's path and its faults. Every run then trades it (`venues_config`).
venues_config=()
start_exchange() {
  local faults=$1
  : >"$work/exchange.out"
  echo "== arb-exchange --seed $seed --faults $faults" >>"$log"
  "$exchange" --seed "$seed" --dir "$work" --faults "$faults" >"$work/exchange.out" 2>>"$log" &
  exchange_pid=$!
  for _ in $(seq 1 600); do
    grep -q '^faults ' "$work/exchange.out" && break
    kill -0 "$exchange_pid" 2>/dev/null || fail "arb-exchange exited at start; last lines of $log:
$(tail -n 5 "$log")"
    sleep 0.1
  done
  grep -q '^faults ' "$work/exchange.out" || fail "arb-exchange did not start within 60 s"
  head -n 3 "$work/exchange.out" >>"$log"
  venues_config=(--config "$work/loopback-config.json")
}
stop_exchange() {
  kill -TERM "$exchange_pid" 2>/dev/null || true
  wait "$exchange_pid" 2>/dev/null || true
  tail -n 1 "$work/exchange.out" >>"$log"
  exchange_pid=""
}
if [ -n "$wire" ]; then
  files_prefix="loopback-"
  start_exchange "${SOAK_WIRE_FAULTS:-delay=200,drop=3,5xx=2,429=2,425=2,gap=1,silent=1500,failed=10}"
fi

kills=0
: >"$work/soak-kills"
for round in $(seq 1 "$rounds"); do
  run_seed=$RANDOM
  delay_ms=$((200 + RANDOM % 2301))
  config=()
  if [ -n "$wire" ]; then
    config=("${venues_config[@]}")
  elif [ $((round % 2)) -eq 0 ]; then
    config=(--config "$slow_config")
  fi
  echo "== round $round: arb run ${config[*]} --seed $run_seed --duration 3, SIGKILL after $delay_ms ms" >>"$log"
  "$arb" run ${config[@]+"${config[@]}"} --db "$db" --seed "$run_seed" --duration 3 --log-level error >>"$log" 2>&1 &
  running=$!
  sleep "$(seconds "$delay_ms")"
  if [ ${#config[@]} -gt 0 ]; then
    for _ in $(seq 1 40); do
      kill -0 "$running" 2>/dev/null || break
      [ "$(open_now)" -eq 0 ] || break
      sleep 0.05
    done
  fi
  kill -9 "$running" 2>/dev/null || true
  status=0
  wait "$running" 2>/dev/null || status=$?
  running=""
  # 137: killed as planned, and only that counts as a kill (a kill sent to a process that had
  # already exited "succeeds" too). 0: the run ended first (a slow machine). Anything else is a
  # failure: a refused restart (e.g. the dead trader's lease not taken over), a trap, a crash.
  if [ "$status" -eq 137 ]; then
    kills=$((kills + 1))
    record_open "$round"
  elif [ "$status" -ne 0 ]; then
    fail "round $round: arb run --seed $run_seed exited $status before its kill; last lines of $log:
$(tail -n 5 "$log")"
  fi
done

# MARK: - Restart, reconcile

# Over the wire, the exchange restarts on its files without faults: every venue reachable.
if [ -n "$wire" ]; then
  stop_exchange
  start_exchange none
fi

# A clean restart: recovery first (DESIGN §6), a little trading, pending alerts delivered, exit 0.
run_to_end "restart" --seed "$RANDOM" --duration 0.5

# Reconcile. `arbadmin reconcile` when this build has it (branch admin); until then `arb run
# --duration 0.3`, whose start-up recovery is the same ArbEngine code (Reconciler). A paper venue
# may refuse a cancel (the demo's cancel_fail_percent), which leaves the opportunity for a person
# (reconcile exits 1); an operator would run it again, so it is retried a bounded number of times.
if "$admin" reconcile --help 2>/dev/null | grep -q -- "--db"; then
  reconcile_with="arbadmin reconcile"
else
  reconcile_with="arb run --duration 0.3 (arbadmin reconcile not in this build)"
fi
for attempt in 1 2 3 4 5; do
  echo "== reconcile $attempt: $reconcile_with" >>"$log"
  status=0
  if [ "$reconcile_with" = "arbadmin reconcile" ]; then
    "$admin" reconcile --db "$db" ${venues_config[@]+"${venues_config[@]}"} >>"$log" 2>&1 || status=$?
    [ "$status" -le 1 ] || fail "arbadmin reconcile exited $status; last lines of $log:
$(tail -n 5 "$log")"
  else
    run_to_end "reconcile $attempt" --seed "$RANDOM" --duration 0.3
  fi
  if [ "$status" -eq 0 ] && [ "$(open_count)" -eq 0 ]; then break; fi
done
# An alert raised by reconcile itself is delivered by the next trader (the outbox survives a
# restart); let one deliver it, so invariant 6 can demand delivery.
pending=$(sqlite3 -batch -noheader "$db" "SELECT count(*) FROM alert_deliveries WHERE delivered_at_ms IS NULL")
if [ "$pending" -ne 0 ]; then run_to_end "alert delivery" --seed "$RANDOM" --duration 0.3; fi

# MARK: - Check and summary

check_invariants "$work"
check_proofs "$work"
[ "$violations" -eq 0 ] || fail "$violations checks failed (rows above)"
# Over the wire, arbadmin's own audit (the Swift checker of the same invariants) must agree.
if [ -n "$wire" ]; then
  "$admin" audit --db "$db" "${venues_config[@]}" --all-closed --sink file >>"$log" 2>&1 \
    || fail "arbadmin audit --all-closed found violations; last lines of $log:
$(tail -n 5 "$log")"
  stop_exchange
fi

read -r caught_kills caught_opportunities < <(caught_counts "$work")
recovery_moves=$(sqlite3 -batch -noheader "$db" "SELECT count(*) FROM transitions WHERE reason LIKE 'recovery:%'")
reversals=$(sqlite3 -batch -noheader "$db" "SELECT count(*) FROM fill_reversals")
counts=$(sqlite3 -batch -noheader "$db" "SELECT count(*),
  sum(outcome = 'hedged'), sum(outcome = 'one_sided'), sum(outcome = 'no_fill'),
  sum(outcome = 'abandoned'), sum(outcome = 'rejected'), sum(outcome = 'manual'),
  sum(outcome = 'completed'), sum(outcome = 'flattened'), (SELECT count(*) FROM unwind_orders) FROM opportunities")
IFS='|' read -r total hedged one_sided no_fill abandoned rejected manual completed flattened unwind_orders <<<"$counts"
ok=1
echo "soak:${wire:+ over the wire,} $rounds rounds, $kills kills, $caught_kills kills caught $caught_opportunities open opportunities" \
  "(each moved by recovery; $recovery_moves recovery transitions in all)," \
  "$total opportunities (hedged ${hedged:-0}, one_sided ${one_sided:-0}," \
  "no_fill ${no_fill:-0}, abandoned ${abandoned:-0}, rejected ${rejected:-0}, manual ${manual:-0}," \
  "completed ${completed:-0}, flattened ${flattened:-0}; ${unwind_orders:-0} unwind orders)," \
  "$reversals fills undone by their venue, reconciled with $reconcile_with, $((SECONDS - started)) s, seed $seed: invariants hold"

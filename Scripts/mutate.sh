#!/usr/bin/env bash
# Mutation check: applies deliberate breaks, one at a time, to a scratch copy of the project and
# shows that the test suite (its simulator, crash matrix and auditor included) fails on each.
# A check that a deliberate break passes is worth nothing; this is how we know ours bite.
#
#   Scripts/mutate.sh                 every mutation (a first run builds the copy from scratch)
#   Scripts/mutate.sh NAME [NAME…]    only these (names below)
#   ARB_MUTATE_DIR=/path              the scratch copy (default /tmp/arb-mutate; kept between
#                                     runs so later runs build incrementally)
#
# Prints one line per mutation, CAUGHT (with the first failing test) or MISSED, and exits
# non-zero if any was missed or a mutation no longer applies (the code it breaks moved: update
# the pattern here). The working tree is never touched.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${ARB_MUTATE_DIR:-/tmp/arb-mutate}

# name | file | perl substitution (applied to the whole file) | what the break means
mutations=(
  'skip-owed-cancel|Sources/ArbEngine/Recovery/Reconciler.swift|s/if !current\.status\.isFinal \{/if false, !current.status.isFinal {/|recovery skips the cancels still owed at the venue'
  'one-sided-closed-hedged|Sources/OrderStateMachine/Machine/ClosingPath.swift|s/case \.cancelAttempted: return \[\.closedExposed\]/case .cancelAttempted: return [.legsEven, .reconciled]/|a one-sided close is recorded hedged'
  'send-before-commit|Sources/ArbEngine/Execution/Ledger.swift|s/(let prepared = plan\.venue\.prepare\(request\))/$1; let venue = plan.venue; Task { _ = try? await venue.submit(prepared) }/|orders are sent before the InFlight commit'
  'drop-late-fill|Sources/ArbEngine/Trader/Trader.swift|s/guard case \.fill\(let fill\) = event else \{ continue \}/guard case .fill(let fill) = event, Bool("false")! else { continue }/|a fill no execution owns is dropped'
  'reuse-id|Sources/OrderStateMachine/Store/Store.swift|s/let first = max\(reserved, highest\) \+ 1/let first = highest + 1 + 0 * reserved/; s/\} catch \{\n            reservedIDs\.next \+= 1\n/} catch {\n/|an opportunity id a rolled-back transaction took is handed out again'
  'illegal-transition-recovered|Sources/ArbEngine/Execution/Executor.swift|s/steps: \[TransitionStep\(\.fillTimedOut,/steps: [TransitionStep(.cancelSent,/|the executor records an illegal transition (the Store refuses it) and recovery quietly repairs it'
  'fifo-scheduling|Sources/ArbEngine/Simulation/VirtualTimeExecutor.swift|s/let pick = jobHead \+ Int\(/let pick = jobHead + 0 * Int(/|the simulator explores one interleaving whatever the seed'
  'alert-before-cancel|Sources/ArbEngine/Execution/Executor.swift|s/let alert = oneSidedAlert\(run, phase: \.detected\)/let alert = oneSidedAlert(atImbalance, phase: .detected)/|the one-sided alert states the legs before the cancel was sent'
  'orphan-fill-dropped|Sources/ArbEngine/Trader/Trader.swift|s/guard attempt < retry\.attemptsMax else \{/guard false else {/; s/unrecorded\.append\(fill\)/_ = fill/|a late fill the store refuses once is dropped (no retry, nothing handed back)'
  'prod-without-live|Sources/ArbEngine/Config/TraderConfig.swift|s/case \.kalshi\(let kalshi\): kalshi\.environment == \.prod/case .kalshi: false/|a Kalshi prod venue trades without --live'
  'duplicate-keys-accepted|Sources/ArbEngine/Support/JSON/JSONTreeDecoder.swift|s/where !seen\.insert\(member\.key\)\.inserted \{/where !seen.insert(member.key).inserted \&\& false {/|a config key given twice is silently taken (the later value wins)'
  'early-signal-kills|Sources/arb/Arb.swift|s/EarlyStopSignals\.install\(\[\.sigint, \.sigterm\]\)/_ = 0/|a SIGTERM while arb run starts kills it instead of stopping it gracefully'
  'kalshi-no-as-yes-bid|Sources/KalshiVenue/KalshiOrderMapping.swift|s/case \(\.no, \.buy\): self\.side = \.ask/case (.no, .buy): self.side = .bid/|a Kalshi NO buy is sent as a YES bid (the bug peers shipped)'
  'kalshi-pss-salt|Sources/KalshiVenue/KalshiSigner.swift|s/EVP_PKEY_CTX_set_rsa_pss_saltlen\(keyContext, 32\)/EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, 20)/|Kalshi signatures use a 20-byte PSS salt'
  'kalshi-one-page|Sources/KalshiVenue/KalshiVenue.swift|s/cursor = page\.cursor/cursor = nil/|Kalshi lists (orders, fills) stop after the first page'
  'kalshi-fee-recomputed|Sources/KalshiVenue/KalshiVenue.swift|s/fee: try item\.money\("fee_cost"\),/fee: feeModel.fee(price: price, quantity: quantity),/|a Kalshi fill records arb'"'"'s fee formula instead of the fee_cost it was charged'
  'keccak-nist-padding|Sources/PolymarketVenue/Keccak256.swift|s/last\.append\(0x01\)/last.append(0x06)/|Keccak-256 pads like NIST SHA3-256 (every order hash wrong)'
  'hedged-on-provisional|Sources/ArbEngine/Execution/Executor.swift|s/provisional: run\.provisional\)/provisional: false)/|a pair closes hedged on fills its venue may still undo'
  'recovery-hedged-on-provisional|Sources/ArbEngine/Recovery/Reconciler.swift|s/provisional: provisional\)/provisional: false)/|recovery closes hedged on provisional fills'
  'feeds-end-the-group|Sources/ArbEngine/Trader/TraderServices.swift|s/\n            try\? await gracefulShutdown\(\)\n        \}/\n        }/|venues without a push feed end the feeds service, which ends arb run at once'
  'venue-disagreement-ignored|Sources/ArbEngine/Trader/Trader.swift|s/if !refusals\.isEmpty \{ throw TraderError\.venueDisagrees\(refusals\) \}//|arb run trades a market whose tick size or fee the venue disagrees with'
  'book-gap-ignored|Sources/KalshiVenue/KalshiBooks.swift|s/seq != last \+ 1 \{/seq < last {/|a Kalshi seq gap goes unseen and the book keeps quoting'
  'untrusted-not-cleared|Sources/ArbKit/OrderBook.swift|s/case \.untrusted\(_, _, let cleared\): cleared/case .untrusted: []/|an untrusted book'"'"'s last prices stay in the detector'
  'pong-counts-as-market|Sources/PolymarketVenue/PolymarketBooks.swift|s/\{ return \[\] \}\n        guard let parsed/{ lastMessageAt = now; return [] }\n        guard let parsed/|pongs keep a silent Polymarket socket'"'"'s books trusted'
)

selected=("$@")
wanted() {
  [ ${#selected[@]} -eq 0 ] && return 0
  local name
  for name in "${selected[@]}"; do [ "$name" = "$1" ] && return 0; done
  return 1
}

# The copy gets exactly the project's files (times kept, so builds stay incremental); only its
# .build survives between runs. The file a mutation changed is restored with its *old* time,
# older than the object built from the mutant: the build would keep the mutant and every later
# mutation would be judged with it. So that file is touched after each restore (and its name
# kept in .build, so the next run of this script rebuilds it too).
mutated_record="$scratch/.build/arb-mutated-file"
sync_sources() {
  mkdir -p "$scratch"
  find "$scratch" -mindepth 1 -maxdepth 1 ! -name .build -exec rm -rf {} +
  tar -C "$root" --exclude=./.build --exclude=./.git --exclude='*.db' --exclude='*.db-wal' --exclude='*.db-shm' \
    --exclude=./data -cf - . | tar -C "$scratch" -xf -
  if [ -f "$mutated_record" ]; then
    local previous
    previous=$(cat "$mutated_record")
    [ -f "$scratch/$previous" ] && touch "$scratch/$previous"
    rm -f "$mutated_record"
  fi
}
note_mutated() {
  mkdir -p "$scratch/.build"
  echo "$1" >"$mutated_record"
}

missed=0
for entry in "${mutations[@]}"; do
  IFS='|' read -r name file substitution meaning <<<"$entry"
  wanted "$name" || continue
  sync_sources
  before=$(cksum <"$scratch/$file")
  note_mutated "$file"
  perl -0pi -e "$substitution" "$scratch/$file"
  if [ "$(cksum <"$scratch/$file")" = "$before" ]; then
    echo "mutate: $name no longer applies to $file (the code moved: update its pattern in Scripts/mutate.sh)"
    missed=$((missed + 1))
    continue
  fi
  log="$scratch.$name.log"
  if ! (cd "$scratch" && swift build --build-tests) >"$log" 2>&1; then
    echo "mutate: $name does not compile (see $log): update its pattern"
    missed=$((missed + 1))
    continue
  fi
  if (cd "$scratch" && swift test) >>"$log" 2>&1; then
    echo "MISSED  $name: $meaning — every test passed (log: $log)"
    missed=$((missed + 1))
  else
    first=$(grep -m1 -E '✘ Test .* (recorded an issue|failed)|Fatal error|exited with unexpected signal' "$log" | cut -c1-160)
    echo "CAUGHT  $name: $meaning — $first"
  fi
done
sync_sources  # leave the copy pristine (the next run's build starts from the real sources)
if [ "$missed" -gt 0 ]; then
  echo "mutate: $missed mutation(s) not caught or not applied" >&2
  exit 1
fi
echo "mutate: every mutation caught"

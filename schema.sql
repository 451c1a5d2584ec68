-- arb schema, version 7.
-- The one source of the schema: the OrderStateMachine library embeds this exact text
-- (Schema.swift) and a test proves the two are byte-identical.
--
-- Units (DESIGN §2): prices are integer ticks of $0.0001 (0 < price < 10000), quantities are
-- hundredths of a contract, money is integer micro-dollars, times are Unix milliseconds (UTC).
-- Nothing here is ever deleted: triggers refuse DELETE on every history table.
--
-- A CHECK or trigger that allows three or more values spells them `x = … OR x = …`, never
-- `x IN (…)`: SQLite evaluates a constant IN list of more than two values through a temporary
-- b-tree it builds on every execution of the statement (about 1.4 µs each; eight of them were a
-- quarter of the begin commit's CPU, issue 17). The two forms mean the same, NULL included.

-- MARK: opportunities -------------------------------------------------------------------------

CREATE TABLE opportunities (
    id                INTEGER PRIMARY KEY,
    dedup_key         TEXT    NOT NULL,        -- event_id|venueA:outcomeA|venueB:outcomeB
    event_id          TEXT    NOT NULL,
    venue_a           TEXT    NOT NULL,
    outcome_a         TEXT    NOT NULL,
    instrument_a      TEXT    NOT NULL,
    venue_b           TEXT    NOT NULL,
    outcome_b         TEXT    NOT NULL,
    instrument_b      TEXT    NOT NULL,
    edge_bps          INTEGER NOT NULL,        -- net of fees, at detection
    price_a           INTEGER NOT NULL CHECK (price_a > 0 AND price_a < 10000),
    price_b           INTEGER NOT NULL CHECK (price_b > 0 AND price_b < 10000),
    quantity          INTEGER NOT NULL CHECK (quantity > 0),
    expected_fees_micros INTEGER NOT NULL DEFAULT 0 CHECK (expected_fees_micros >= 0),
    state             TEXT    NOT NULL DEFAULT 'Detected' CHECK (
                          state = 'Detected' OR state = 'InFlight' OR state = 'LegsPlaced' OR state = 'Filled'
                          OR state = 'OneSided' OR state = 'CancelAttempted' OR state = 'Unwinding' OR state = 'Closed'),
    outcome           TEXT    CHECK (
                          outcome = 'hedged' OR outcome = 'one_sided' OR outcome = 'no_fill' OR outcome = 'abandoned'
                          OR outcome = 'rejected' OR outcome = 'manual' OR outcome = 'completed' OR outcome = 'flattened'),
    state_reason      TEXT    NOT NULL DEFAULT 'detected',  -- why the last transition happened
    flattened         INTEGER NOT NULL DEFAULT 0 CHECK (flattened IN (0, 1)),
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL,
    CHECK ((state = 'Closed') = (outcome IS NOT NULL)),
    CHECK (flattened = 0 OR state = 'Closed')
);

-- DESIGN §4: dedup is a constraint. At most one live (non-Closed) opportunity per key, whatever
-- process inserts it.
CREATE UNIQUE INDEX opportunities_live_dedup_key ON opportunities (dedup_key) WHERE state <> 'Closed';
-- The begin commit is the trader's critical path (detect → submit), so an opportunity's insert
-- maintains no index beyond the dedup key: the live rows are read through that partial index
-- (INDEXED BY), and the open one-sided exposures — the only closed rows read by state — through
-- the one below, which an insert never touches (its rows are closed one_sided, not flattened).
CREATE INDEX opportunities_exposed ON opportunities (id) WHERE outcome = 'one_sided' AND flattened = 0;

-- New opportunities start in Detected. One insert may also take the first step, in the same
-- statement — to InFlight (the risk gate passed: the begin commit) or to Closed abandoned (a
-- refused detection) — and the log trigger below then writes both rows, as two steps would.
CREATE TRIGGER opportunities_insert_detected
BEFORE INSERT ON opportunities
WHEN NOT (   (NEW.state = 'Detected' AND NEW.outcome IS NULL)
          OR (NEW.state = 'InFlight' AND NEW.outcome IS NULL)
          OR (NEW.state = 'Closed' AND NEW.outcome IS 'abandoned'))
     OR NEW.flattened <> 0
BEGIN
    SELECT RAISE(ABORT, 'illegal transition: a new opportunity must start in Detected');
END;

-- DESIGN §3: the only legal transitions. Anything else, from any writer (including a hand-typed
-- UPDATE in the sqlite3 shell), is refused — writing a state onto itself included.
CREATE TRIGGER opportunities_legal_transition
BEFORE UPDATE OF state, outcome ON opportunities
WHEN NOT (
       (OLD.state = 'Detected'        AND NEW.state = 'InFlight')
    OR (OLD.state = 'Detected'        AND NEW.state = 'Closed' AND NEW.outcome = 'abandoned')
    OR (OLD.state = 'InFlight'        AND NEW.state = 'LegsPlaced')
    OR (OLD.state = 'InFlight'        AND NEW.state = 'OneSided')
    OR (OLD.state = 'InFlight'        AND NEW.state = 'Closed' AND NEW.outcome IN ('rejected', 'no_fill'))
    OR (OLD.state = 'LegsPlaced'      AND (NEW.state = 'Filled' OR NEW.state = 'OneSided' OR NEW.state = 'CancelAttempted'))
    OR (OLD.state = 'OneSided'        AND NEW.state IN ('CancelAttempted', 'Filled'))
    OR (OLD.state = 'CancelAttempted' AND NEW.state = 'Filled')
    OR (OLD.state = 'CancelAttempted' AND NEW.state = 'Closed' AND NEW.outcome IN ('one_sided', 'no_fill'))
    OR (OLD.state = 'CancelAttempted' AND NEW.state = 'Unwinding')
    OR (OLD.state = 'Unwinding'       AND NEW.state = 'Closed' AND (NEW.outcome = 'completed' OR NEW.outcome = 'flattened' OR NEW.outcome = 'one_sided'))
    OR (OLD.state = 'Closed' AND OLD.outcome = 'one_sided' AND OLD.flattened = 0 AND NEW.state = 'Unwinding')
    OR (OLD.state = 'Filled'          AND NEW.state = 'Closed' AND NEW.outcome = 'hedged')
    OR (OLD.state = 'Filled'          AND NEW.state = 'OneSided')
    OR (OLD.state <> 'Closed'         AND NEW.state = 'Closed' AND NEW.outcome = 'manual')
)
BEGIN
    SELECT RAISE(ABORT, 'illegal transition');
END;

-- A closed opportunity is history: only the operator's "flattened" mark may still change.
CREATE TRIGGER opportunities_closed_is_final
BEFORE UPDATE ON opportunities
WHEN OLD.state = 'Closed' AND (
       NEW.dedup_key IS NOT OLD.dedup_key OR NEW.event_id IS NOT OLD.event_id
    OR NEW.quantity IS NOT OLD.quantity OR NEW.price_a IS NOT OLD.price_a OR NEW.price_b IS NOT OLD.price_b
    OR NEW.edge_bps IS NOT OLD.edge_bps OR NEW.created_at_ms IS NOT OLD.created_at_ms
    OR (OLD.flattened = 1 AND NEW.flattened = 0)
)
BEGIN
    SELECT RAISE(ABORT, 'a closed opportunity cannot be changed');
END;

-- The transitions log is written by the database itself, so no writer can change a state without
-- leaving a log row (invariant 4: the current state equals the last logged `to`).
CREATE TRIGGER opportunities_log_insert
AFTER INSERT ON opportunities
BEGIN
    INSERT INTO transitions (opportunity_id, from_state, to_state, outcome, reason, at_ms)
    VALUES (NEW.id, NULL, 'Detected', NULL, CASE NEW.state WHEN 'Detected' THEN NEW.state_reason ELSE 'detected' END,
            NEW.created_at_ms);
    INSERT INTO transitions (opportunity_id, from_state, to_state, outcome, reason, at_ms)
    SELECT NEW.id, 'Detected', NEW.state, NEW.outcome, NEW.state_reason, NEW.updated_at_ms WHERE NEW.state <> 'Detected';
END;

CREATE TRIGGER opportunities_log_transition
AFTER UPDATE OF state, outcome ON opportunities
WHEN NEW.state IS NOT OLD.state OR NEW.outcome IS NOT OLD.outcome
BEGIN
    INSERT INTO transitions (opportunity_id, from_state, to_state, outcome, reason, at_ms)
    VALUES (NEW.id, OLD.state, NEW.state, NEW.outcome, NEW.state_reason, NEW.updated_at_ms);
END;

CREATE TRIGGER opportunities_no_delete
BEFORE DELETE ON opportunities
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: opportunities are never deleted');
END;

-- MARK: transitions (append-only log) ---------------------------------------------------------

CREATE TABLE transitions (
    id             INTEGER PRIMARY KEY,
    opportunity_id INTEGER NOT NULL REFERENCES opportunities (id),
    from_state     TEXT,                  -- NULL for the row that created the opportunity
    to_state       TEXT    NOT NULL,
    outcome        TEXT,
    reason         TEXT    NOT NULL,
    at_ms          INTEGER NOT NULL
);
CREATE INDEX transitions_by_opportunity ON transitions (opportunity_id, id);

CREATE TRIGGER transitions_no_update
BEFORE UPDATE ON transitions
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: transitions are never changed');
END;

CREATE TRIGGER transitions_no_delete
BEFORE DELETE ON transitions
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: transitions are never deleted');
END;

-- MARK: legs ------------------------------------------------------------------------------------

-- A leg's id is its opportunity's id and its side (2 × opportunity id, + 1 for leg b), and its
-- client order id is fixed by the same two (arb-<database id>-<opportunity id>-<leg>, checked by
-- the trigger below): one b-tree enforces one order per leg and side and a client order id never
-- used twice, and a begin commit appends both legs at its right edge (schema v7, issue 17: the
-- UNIQUE (opportunity_id, leg) and UNIQUE client_order_id indexes were two more b-trees on the
-- detect → submit path). Lookups by client order id parse it into the id (Store.legID).
CREATE TABLE legs (
    id                 INTEGER PRIMARY KEY CHECK (id IS opportunity_id * 2 + (leg = 'b')),
    opportunity_id     INTEGER NOT NULL REFERENCES opportunities (id),
    leg                TEXT    NOT NULL CHECK (leg IN ('a', 'b')),
    venue              TEXT    NOT NULL,
    instrument         TEXT    NOT NULL,
    side               TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    limit_price        INTEGER NOT NULL CHECK (limit_price > 0 AND limit_price < 10000),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    time_in_force      TEXT    NOT NULL CHECK (time_in_force = 'ioc' OR time_in_force = 'fok' OR time_in_force = 'gtc'),
    client_order_id    TEXT    NOT NULL,          -- arb-<database id>-<opportunity id>-<leg>
    venue_order_id     TEXT,                      -- precomputed where the venue allows, else from the ack
    -- pending: intent persisted, no answer yet; unknown: the submit's answer was lost (timeout,
    -- disconnect, 5xx) — only a venue query resolves it; not_found: the venue never received it.
    status             TEXT    NOT NULL DEFAULT 'pending' CHECK (
                           status = 'pending' OR status = 'unknown' OR status = 'open' OR status = 'partially_filled'
                           OR status = 'filled' OR status = 'cancelled' OR status = 'rejected' OR status = 'not_found'),
    status_reason      TEXT,
    cancel_requested   INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    cancel_result      TEXT    CHECK (cancel_result = 'cancelled' OR cancel_result = 'already_done' OR cancel_result = 'failed'
                                      OR cancel_result = 'unknown'),
    filled_quantity    INTEGER NOT NULL DEFAULT 0,
    filled_cost_micros INTEGER NOT NULL DEFAULT 0,  -- sum of price × quantity over fills
    fees_micros        INTEGER NOT NULL DEFAULT 0,
    average_price      INTEGER GENERATED ALWAYS AS
                           (CASE WHEN filled_quantity > 0 THEN filled_cost_micros / filled_quantity END) VIRTUAL,
    updated_at_ms      INTEGER NOT NULL,
    CHECK (filled_quantity >= 0 AND filled_quantity <= quantity)
);

CREATE TRIGGER legs_client_order_id
BEFORE INSERT ON legs
WHEN NEW.client_order_id IS NOT ('arb-' || (SELECT value FROM settings WHERE key = 'database_id')
                                 || '-' || NEW.opportunity_id || '-' || NEW.leg)
BEGIN
    SELECT RAISE(ABORT, 'a leg''s client order id is arb-<database id>-<opportunity id>-<leg>');
END;

CREATE TRIGGER legs_keys_are_fixed
BEFORE UPDATE OF id, opportunity_id, leg, client_order_id ON legs
WHEN NEW.id IS NOT OLD.id OR NEW.opportunity_id IS NOT OLD.opportunity_id OR NEW.leg IS NOT OLD.leg
     OR NEW.client_order_id IS NOT OLD.client_order_id
BEGIN
    SELECT RAISE(ABORT, 'a leg''s id, opportunity, side and client order id never change');
END;

CREATE TRIGGER legs_no_delete
BEFORE DELETE ON legs
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: legs are never deleted');
END;

-- MARK: fills -----------------------------------------------------------------------------------

-- Idempotent by the venue's trade id: a replayed fill is ignored, never counted twice.
CREATE TABLE fills (
    id             INTEGER PRIMARY KEY,
    venue          TEXT    NOT NULL,
    trade_id       TEXT    NOT NULL,
    leg_id         INTEGER NOT NULL REFERENCES legs (id),
    opportunity_id INTEGER NOT NULL REFERENCES opportunities (id),
    price          INTEGER NOT NULL CHECK (price > 0 AND price < 10000),
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    fee_micros     INTEGER NOT NULL CHECK (fee_micros >= 0),
    filled_at_ms   INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL,
    -- 1 while the venue may still undo the trade (Polymarket: MATCHED, not yet CONFIRMED).
    provisional    INTEGER NOT NULL DEFAULT 0 CHECK (provisional IN (0, 1)),
    UNIQUE (venue, trade_id)
);
CREATE INDEX fills_by_leg ON fills (leg_id);
CREATE INDEX fills_by_opportunity ON fills (opportunity_id);

-- A leg's filled quantity, cost and fees are the sum of its fills, kept by the database.
CREATE TRIGGER fills_accumulate_on_leg
AFTER INSERT ON fills
BEGIN
    UPDATE legs
       SET filled_quantity    = filled_quantity + NEW.quantity,
           filled_cost_micros = filled_cost_micros + NEW.price * NEW.quantity,
           fees_micros        = fees_micros + NEW.fee_micros
     WHERE id = NEW.leg_id;
END;

-- A fill never changes, except that a provisional one becomes certain (the venue confirmed it)
-- unless it was reversed.
CREATE TRIGGER fills_no_update
BEFORE UPDATE ON fills
WHEN NOT (OLD.provisional = 1 AND NEW.provisional = 0
          AND NEW.id = OLD.id AND NEW.venue = OLD.venue AND NEW.trade_id = OLD.trade_id AND NEW.leg_id = OLD.leg_id
          AND NEW.opportunity_id = OLD.opportunity_id AND NEW.price = OLD.price AND NEW.quantity = OLD.quantity
          AND NEW.fee_micros = OLD.fee_micros AND NEW.filled_at_ms = OLD.filled_at_ms
          AND NEW.recorded_at_ms = OLD.recorded_at_ms
          AND NOT EXISTS (SELECT 1 FROM fill_reversals WHERE fill_id = OLD.id))
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: a fill only ever goes from provisional to certain');
END;

CREATE TRIGGER fills_no_delete
BEFORE DELETE ON fills
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: fills are never deleted');
END;

-- A provisional fill the venue undid (Polymarket: the trade FAILED on chain). The fill row stays
-- (history); its leg's sums drop it.
CREATE TABLE fill_reversals (
    fill_id        INTEGER PRIMARY KEY REFERENCES fills (id),
    reason         TEXT    NOT NULL,
    recorded_at_ms INTEGER NOT NULL
);

CREATE TRIGGER fill_reversals_only_provisional
BEFORE INSERT ON fill_reversals
WHEN (SELECT provisional FROM fills WHERE id = NEW.fill_id) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'only a provisional fill can be reversed');
END;

CREATE TRIGGER fill_reversals_subtract_from_leg
AFTER INSERT ON fill_reversals
BEGIN
    UPDATE legs
       SET filled_quantity    = filled_quantity - (SELECT quantity FROM fills WHERE id = NEW.fill_id),
           filled_cost_micros = filled_cost_micros - (SELECT price * quantity FROM fills WHERE id = NEW.fill_id),
           fees_micros        = fees_micros - (SELECT fee_micros FROM fills WHERE id = NEW.fill_id)
     WHERE id = (SELECT leg_id FROM fills WHERE id = NEW.fill_id);
END;

CREATE TRIGGER fill_reversals_no_update
BEFORE UPDATE ON fill_reversals
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: reversals are never changed');
END;

CREATE TRIGGER fill_reversals_no_delete
BEFORE DELETE ON fill_reversals
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: reversals are never deleted');
END;

-- MARK: unwind orders (schema v4) -------------------------------------------------------------

-- Orders that take a one-sided exposure back (issue 14): attempt n of an opportunity's unwind,
-- each persisted before it is sent, in the transaction that enters or stays in Unwinding. A buy
-- completes the pair (the missing outcome), a sell flattens the excess; the limit is never past
-- the bound the loss limit allows (a CHECK, so no writer can place one that is).
CREATE TABLE unwind_orders (
    id                 INTEGER PRIMARY KEY,
    opportunity_id     INTEGER NOT NULL REFERENCES opportunities (id),
    attempt            INTEGER NOT NULL CHECK (attempt >= 1),
    action             TEXT    NOT NULL CHECK (action IN ('complete', 'flatten')),
    venue              TEXT    NOT NULL,
    instrument         TEXT    NOT NULL,
    side               TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    limit_price        INTEGER NOT NULL CHECK (limit_price > 0 AND limit_price < 10000),
    bound_price        INTEGER NOT NULL CHECK (bound_price > 0 AND bound_price < 10000),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    -- The unwind as a whole, the same on every attempt: the exposure it set out to take back and
    -- the loss it may realise doing so (max_loss_per_contract × that exposure), for the auditor.
    exposure_quantity  INTEGER NOT NULL CHECK (exposure_quantity > 0 AND quantity <= exposure_quantity),
    loss_budget_micros INTEGER NOT NULL CHECK (loss_budget_micros >= 0),
    client_order_id    TEXT    NOT NULL UNIQUE,   -- arb-<database id>-<opportunity id>-u<attempt>
    venue_order_id     TEXT,
    status             TEXT    NOT NULL DEFAULT 'pending' CHECK (
                           status = 'pending' OR status = 'unknown' OR status = 'open' OR status = 'partially_filled'
                           OR status = 'filled' OR status = 'cancelled' OR status = 'rejected' OR status = 'not_found'),
    status_reason      TEXT,
    filled_quantity    INTEGER NOT NULL DEFAULT 0,
    filled_cost_micros INTEGER NOT NULL DEFAULT 0,  -- sum of price × quantity over fills
    fees_micros        INTEGER NOT NULL DEFAULT 0,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL,
    UNIQUE (opportunity_id, attempt),
    CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
    CHECK ((side = 'buy') = (action = 'complete')),
    CHECK (CASE side WHEN 'buy' THEN limit_price <= bound_price ELSE limit_price >= bound_price END)
);

CREATE TRIGGER unwind_orders_only_unwinding
BEFORE INSERT ON unwind_orders
WHEN (SELECT state FROM opportunities WHERE id = NEW.opportunity_id) IS NOT 'Unwinding'
BEGIN
    SELECT RAISE(ABORT, 'an unwind order is placed only while its opportunity is Unwinding');
END;

CREATE TRIGGER unwind_orders_no_delete
BEFORE DELETE ON unwind_orders
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: unwind orders are never deleted');
END;

-- An unwind order's fills, idempotent by the venue's trade id, summed onto the order by the
-- database; a provisional one (Polymarket's MATCHED) may be confirmed, or reversed (FAILED),
-- which takes it back out of the sums. The row stays.
CREATE TABLE unwind_fills (
    id              INTEGER PRIMARY KEY,
    venue           TEXT    NOT NULL,
    trade_id        TEXT    NOT NULL,
    unwind_order_id INTEGER NOT NULL REFERENCES unwind_orders (id),
    opportunity_id  INTEGER NOT NULL REFERENCES opportunities (id),
    price           INTEGER NOT NULL CHECK (price > 0 AND price < 10000),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    fee_micros      INTEGER NOT NULL CHECK (fee_micros >= 0),
    filled_at_ms    INTEGER NOT NULL,
    recorded_at_ms  INTEGER NOT NULL,
    provisional     INTEGER NOT NULL DEFAULT 0 CHECK (provisional IN (0, 1)),
    reversed_at_ms  INTEGER,
    UNIQUE (venue, trade_id),
    CHECK (reversed_at_ms IS NULL OR provisional = 1)
);
CREATE INDEX unwind_fills_by_order ON unwind_fills (unwind_order_id);

CREATE TRIGGER unwind_fills_accumulate
AFTER INSERT ON unwind_fills
BEGIN
    UPDATE unwind_orders
       SET filled_quantity    = filled_quantity + NEW.quantity,
           filled_cost_micros = filled_cost_micros + NEW.price * NEW.quantity,
           fees_micros        = fees_micros + NEW.fee_micros
     WHERE id = NEW.unwind_order_id;
END;

CREATE TRIGGER unwind_fills_reverse
AFTER UPDATE OF reversed_at_ms ON unwind_fills
WHEN OLD.reversed_at_ms IS NULL AND NEW.reversed_at_ms IS NOT NULL
BEGIN
    UPDATE unwind_orders
       SET filled_quantity    = filled_quantity - NEW.quantity,
           filled_cost_micros = filled_cost_micros - NEW.price * NEW.quantity,
           fees_micros        = fees_micros - NEW.fee_micros
     WHERE id = NEW.unwind_order_id;
END;

-- Only two changes: provisional → certain (not once reversed), or provisional → reversed.
CREATE TRIGGER unwind_fills_no_update
BEFORE UPDATE ON unwind_fills
WHEN NOT (NEW.id = OLD.id AND NEW.venue = OLD.venue AND NEW.trade_id = OLD.trade_id
          AND NEW.unwind_order_id = OLD.unwind_order_id AND NEW.opportunity_id = OLD.opportunity_id
          AND NEW.price = OLD.price AND NEW.quantity = OLD.quantity AND NEW.fee_micros = OLD.fee_micros
          AND NEW.filled_at_ms = OLD.filled_at_ms AND NEW.recorded_at_ms = OLD.recorded_at_ms
          AND OLD.provisional = 1 AND OLD.reversed_at_ms IS NULL
          AND ((NEW.provisional = 0 AND NEW.reversed_at_ms IS NULL)
               OR (NEW.provisional = 1 AND NEW.reversed_at_ms IS NOT NULL)))
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: an unwind fill is only confirmed or reversed, once');
END;

CREATE TRIGGER unwind_fills_no_delete
BEFORE DELETE ON unwind_fills
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: unwind fills are never deleted');
END;

-- MARK: alerts (outbox) ---------------------------------------------------------------------------

-- Inserted in the same transaction as the transition that causes it; delivered by a dispatcher.
CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY,
    alert_key      TEXT    NOT NULL UNIQUE,   -- stable id so receivers can drop repeats
    opportunity_id INTEGER REFERENCES opportunities (id),
    kind           TEXT    NOT NULL,
    severity       TEXT    NOT NULL CHECK (severity = 'info' OR severity = 'warning' OR severity = 'critical'),
    text           TEXT    NOT NULL,          -- for people
    body_json      TEXT    NOT NULL,          -- for machines
    created_at_ms  INTEGER NOT NULL,
    -- The opportunity's leg rows as they stood when the alert was inserted (written by the
    -- trigger below, never by a caller): an alert says what the rows said at its commit, and the
    -- auditor compares the two. Alerts are the last write of their transaction.
    legs_at_commit TEXT
);
CREATE INDEX alerts_by_opportunity ON alerts (opportunity_id);

CREATE TRIGGER alerts_snapshot_legs
AFTER INSERT ON alerts
WHEN NEW.opportunity_id IS NOT NULL
BEGIN
    UPDATE alerts SET legs_at_commit = (
        SELECT json_group_array(json_object(
                   'leg', leg, 'client_order_id', client_order_id, 'venue', venue, 'status', status,
                   'filled_quantity', filled_quantity, 'cancel_requested', cancel_requested,
                   'cancel_result', cancel_result))
          FROM (SELECT * FROM legs WHERE id BETWEEN NEW.opportunity_id * 2 AND NEW.opportunity_id * 2 + 1 ORDER BY id))
     WHERE id = NEW.id;
END;

-- One row per alert and sink; delivered_at_ms is NULL until that sink has it.
CREATE TABLE alert_deliveries (
    alert_id        INTEGER NOT NULL REFERENCES alerts (id),
    sink            TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    delivered_at_ms INTEGER,
    last_error      TEXT,
    PRIMARY KEY (alert_id, sink)
) WITHOUT ROWID;
CREATE INDEX alert_deliveries_pending ON alert_deliveries (sink, alert_id) WHERE delivered_at_ms IS NULL;

CREATE TRIGGER alerts_no_delete
BEFORE DELETE ON alerts
BEGIN
    SELECT RAISE(ABORT, 'history is append-only: alerts are never deleted');
END;

-- MARK: runner lease and settings -----------------------------------------------------------------

-- One trader per database (DESIGN §4): at most one row.
CREATE TABLE runner_lease (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    owner           TEXT    NOT NULL,
    pid             INTEGER NOT NULL,
    host            TEXT    NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    heartbeat_at_ms INTEGER NOT NULL
);

-- Keys: database_id (names this file in client order ids), halted (0/1), halt_reason,
-- opportunity_ids_reserved (every opportunity id up to it may have been handed out: ids are
-- reserved in blocks by their own commit, so an id a rolled-back transaction took is never reused).
CREATE TABLE settings (
    key           TEXT    PRIMARY KEY,
    value         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

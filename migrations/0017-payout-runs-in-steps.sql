-- Schema version 17 (issue #25: a payout run never holds tracking). A run used to be one writer transaction over every affiliate,
-- during which no click could be stored. It is now built in small writer jobs, one affiliate (or
-- a slice of a large affiliate's ledger) at a time, so it needs to say where it stands:
--   payout_runs.status  'building' until its last affiliate is done, then 'complete' (with
--                       completed_at); a run interrupted by a crash stays 'building' and the same
--                       run_id finishes it.
--   payouts.building    1 while the payout's items are being held in slices; such a payout is
--                       invisible (no list, no file, no ledger entry) until the last slice, which
--                       sets its amount from `held` and books it. A server that starts removes
--                       those an interrupted run left (store::payout_runs::abandon).
--   payouts.held        the sum of the items held so far, while building.
-- Every run on record was made in one transaction: complete.
ALTER TABLE payout_runs ADD COLUMN status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('building', 'complete'));
ALTER TABLE payout_runs ADD COLUMN completed_at INTEGER;
UPDATE payout_runs SET completed_at = created_at;
ALTER TABLE payouts ADD COLUMN building INTEGER NOT NULL DEFAULT 0 CHECK (building IN (0, 1));
ALTER TABLE payouts ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
-- One payout per affiliate in a run: a run resumed after a crash, or asked twice at once with
-- the same run_id, finds the payout it made instead of making a second one.
CREATE UNIQUE INDEX payouts_one_per_affiliate_in_a_run ON payouts (run, affiliate_id);

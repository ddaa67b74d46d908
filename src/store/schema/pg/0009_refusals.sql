-- ducatd schema, version 8 (PostgreSQL): the payee's signed refusal a payer
-- showed when she reclaimed a payment (POST /v1/reclaims with "refusal").
-- Kept with the refused payment's coins, in their order, as the PAYMENT hash
-- is rebuilt from them (docs/PROTOCOL.md, "Refused and unacknowledged
-- payments"): if the payee later passes a refused coin on and its next
-- holder deposits it, the deposit opens a case against the payee whose
-- evidence is this refusal, these coins and the payee's onward record.
-- deposit: the reclaim's number (the id of its first hold, as a deposit's).
-- coins: n:u8 then (len:u16 little-endian, coin)[n].
CREATE TABLE reclaim_refusals (
    deposit BIGINT PRIMARY KEY,
    refusal BYTEA NOT NULL CHECK (octet_length(refusal) = 156),
    coins BYTEA NOT NULL CHECK (octet_length(coins) > 0)
);

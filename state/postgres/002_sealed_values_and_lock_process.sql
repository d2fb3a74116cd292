-- ethstack state schema for PostgreSQL, migration 2: sensitive values sealed (AES-GCM) and lock
-- holders' processes. resources.sealed and journal.sealed hold the sensitive attributes (planned
-- values) of their row as one envelope "esk1:KEYID:BASE64" (see state/README.md, "Encryption at
-- rest"); the clear columns no longer hold them. A sensitive output's value is such an envelope
-- instead of JSON. locks.process identifies the holder's process beyond host and pid.

ALTER TABLE ethstack.resources ADD COLUMN sealed TEXT;
ALTER TABLE ethstack.journal ADD COLUMN sealed TEXT;
ALTER TABLE ethstack.locks ADD COLUMN process TEXT NOT NULL DEFAULT '';

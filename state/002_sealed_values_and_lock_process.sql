-- ethstack state schema, migration 2: sensitive values sealed (AES-GCM) and lock holders' processes.
-- resources.sealed and journal.sealed hold the sensitive attributes (planned values) of their row as
-- one envelope "esk1:KEYID:BASE64" (see state/README.md, "Encryption at rest"); the clear columns no
-- longer hold them. A sensitive output's value is such an envelope instead of JSON.
-- locks.process identifies the holder's process beyond host and pid (boot id, pid namespace, start
-- time), so a lock is taken over only when its holder is certainly gone.

ALTER TABLE resources ADD COLUMN sealed TEXT;
ALTER TABLE journal ADD COLUMN sealed TEXT;
ALTER TABLE locks ADD COLUMN process TEXT NOT NULL DEFAULT '';

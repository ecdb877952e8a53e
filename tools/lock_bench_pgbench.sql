-- pgbench custom script for tools/lock_bench.sh: one edit-session acquire + release pair,
-- written as silod's repositories write it (src/storage/session_repository.cpp,
-- audit_repository.cpp, event_repository.cpp, append_log.cpp), two transactions:
--   1. INSERT edit_sessions ... ON CONFLICT DO NOTHING RETURNING id; audit row (append lock,
--      head, row, head update); event row (head, row, head update, pg_notify); COMMIT
--   2. DELETE edit_sessions ... RETURNING work_path; event row; audit row; COMMIT
-- A refused acquire (the object is held: contested mode) rolls back and ends the script.
--
-- Variables (pgbench -D): distinct=1 (client k locks item k) or 0 (every client item 0),
-- object=Sketch001|Shared. The fixtures (items, workstations, both head rows) are the ones
-- `lock_bench raw` creates: item k = 00000000-0000-4000-8000-<k, 12 digits>.
-- Run with -M extended (libpqxx exec_params: unnamed statements, as silod does).
\set item :client_id * :distinct
BEGIN;
WITH ins AS (
  INSERT INTO edit_sessions (id, item_id, user_id, username, workstation_id, context_level, object_id,
                             dependency_cone, acquired_at, last_heartbeat, work_path, work_size, work_hash)
  VALUES (gen_random_uuid()::text, '00000000-0000-4000-8000-' || lpad(:item::text, 12, '0'),
          '00000000-0000-4000-a000-000000000000', 'lockbench',
          '00000000-0000-4000-9000-' || lpad(:client_id::text, 12, '0'), 'sketch', :object::text, '[]',
          (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
          (extract(epoch FROM clock_timestamp()) * 1000)::bigint, '', 0, '')
  ON CONFLICT (item_id, context_level, object_id) DO NOTHING RETURNING id)
SELECT count(*) AS won, coalesce(max(id), '') AS sid FROM ins \gset
\if :won
SELECT pg_advisory_xact_lock(7243001);
SELECT last_id AS alast, last_hash AS ahash FROM audit_head WHERE id = 1 \gset
INSERT INTO audit_log (id, at, actor, action, resource_type, resource_id, details, prev_hash, hash)
  VALUES (:alast::bigint + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'lockbench', 'edit.session_acquired',
          'edit_session', :sid::text,
          '{"context_level":"sketch","interference":"none","object_id":"' || :object::text ||
          '","part_number":"LBR-' || :item::text || '","workstation_id":"00000000-0000-4000-9000-' ||
          lpad(:client_id::text, 12, '0') || '"}',
          :ahash::text, encode(sha256(convert_to(:ahash::text || :sid::text || 'acquired', 'UTF8')), 'hex'));
UPDATE audit_head SET last_id = :alast::bigint + 1,
  last_hash = encode(sha256(convert_to(:ahash::text || :sid::text || 'acquired', 'UTF8')), 'hex') WHERE id = 1;
SELECT pg_advisory_xact_lock(7243001);
SELECT last_id AS elast FROM event_head WHERE id = 1 \gset
INSERT INTO events (id, at, type, audience, audience_id, data)
  VALUES (:elast::bigint + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'edit.session_acquired', 'item',
          '00000000-0000-4000-8000-' || lpad(:item::text, 12, '0'),
          '{"conflicts":[],"context_level":"sketch","interference":"none","item_id":"00000000-0000-4000-8000-' ||
          lpad(:item::text, 12, '0') || '","object_id":"' || :object::text || '","part_number":"LBR-' ||
          :item::text || '","session_id":"' || :sid::text ||
          '","user":"lockbench","workstation_id":"00000000-0000-4000-9000-' || lpad(:client_id::text, 12, '0') || '"}');
UPDATE event_head SET last_id = :elast::bigint + 1 WHERE id = 1;
SELECT pg_notify('silo_events', (:elast::bigint + 1)::text);
COMMIT;
BEGIN;
DELETE FROM edit_sessions WHERE id = :sid::text RETURNING work_path;
SELECT pg_advisory_xact_lock(7243001);
SELECT last_id AS elast FROM event_head WHERE id = 1 \gset
INSERT INTO events (id, at, type, audience, audience_id, data)
  VALUES (:elast::bigint + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'edit.session_released', 'item',
          '00000000-0000-4000-8000-' || lpad(:item::text, 12, '0'),
          '{"context_level":"sketch","item_id":"00000000-0000-4000-8000-' || lpad(:item::text, 12, '0') ||
          '","object_id":"' || :object::text || '","part_number":"LBR-' || :item::text ||
          '","reason":"released","session_id":"' || :sid::text ||
          '","user":"lockbench","workstation_id":"00000000-0000-4000-9000-' || lpad(:client_id::text, 12, '0') || '"}');
UPDATE event_head SET last_id = :elast::bigint + 1 WHERE id = 1;
SELECT pg_notify('silo_events', (:elast::bigint + 1)::text);
SELECT pg_advisory_xact_lock(7243001);
SELECT last_id AS alast, last_hash AS ahash FROM audit_head WHERE id = 1 \gset
INSERT INTO audit_log (id, at, actor, action, resource_type, resource_id, details, prev_hash, hash)
  VALUES (:alast::bigint + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'lockbench', 'edit.session_released',
          'edit_session', :sid::text,
          '{"context_level":"sketch","holder":"lockbench","object_id":"' || :object::text ||
          '","part_number":"LBR-' || :item::text || '","reason":"released","workstation_id":"00000000-0000-4000-9000-' ||
          lpad(:client_id::text, 12, '0') || '"}',
          :ahash::text, encode(sha256(convert_to(:ahash::text || :sid::text || 'released', 'UTF8')), 'hex'));
UPDATE audit_head SET last_id = :alast::bigint + 1,
  last_hash = encode(sha256(convert_to(:ahash::text || :sid::text || 'released', 'UTF8')), 'hex') WHERE id = 1;
COMMIT;
\else
ROLLBACK;
\endif

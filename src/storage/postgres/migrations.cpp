// PostgreSQL schema, one entry per version. Append new versions at the end; never edit a
// released one. Each entry runs inside one transaction under the migration advisory lock (no
// BEGIN/COMMIT here) and may hold several statements. Conventions: timestamps BIGINT ms since
// the epoch (UTC), booleans INTEGER 0/1, ids UUID text. Keep the SQLite twin
// (sqlite/migrations.cpp) in step; text keys use COLLATE "C" so that ordering is bytewise, as
// in SQLite, whatever the cluster's locale.
#include "storage/sql.hpp"

namespace silo::sql {

namespace {

const std::vector<Migration> kPostgresMigrations = {
    {1, R"sql(
CREATE TABLE items (
    id              TEXT PRIMARY KEY,
    part_number     TEXT NOT NULL,
    part_number_key TEXT COLLATE "C" NOT NULL UNIQUE,  -- lower-case part_number
    item_type       TEXT NOT NULL,
    description     TEXT NOT NULL,
    revision        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    archived_at     BIGINT NULL
);
-- Listing walks the live items in part_number_key order.
CREATE INDEX items_live_by_key ON items (part_number_key) WHERE archived_at IS NULL;

CREATE TABLE part_number_sequences (
    schema_name TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    value       BIGINT NOT NULL,
    PRIMARY KEY (schema_name, prefix)
);
)sql"},
    {2, R"sql(
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT COLLATE "C" NOT NULL UNIQUE,  -- lower-case username
    display_name  TEXT NOT NULL,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    active        INTEGER NOT NULL,
    auth_source   TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,  -- SHA-256 hex of the secret
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    last_used_at BIGINT NULL,
    revoked_at   BIGINT NULL
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

CREATE TABLE browser_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,  -- SHA-256 hex of the cookie value
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_by_user ON browser_sessions (user_id);

-- Append-only, hash-chained; ids are gap-free (assigned under the append lock).
CREATE TABLE audit_log (
    id            BIGINT PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    details       TEXT NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX audit_log_by_action ON audit_log (action);
CREATE INDEX audit_log_by_resource ON audit_log (resource_type, resource_id);
CREATE INDEX audit_log_by_actor ON audit_log (actor);

-- The newest audit row: a deleted tail shows in /api/audit/verify.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);

-- The durable event log of the SSE hub; ids gap-free under the append lock.
CREATE TABLE events (
    id          BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    type        TEXT NOT NULL,
    audience    TEXT NOT NULL,
    audience_id TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX events_by_at ON events (at);

CREATE TABLE event_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    last_id        BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL
);

CREATE TABLE workstations (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    fingerprint     TEXT NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    last_seen       BIGINT NULL,
    disconnected_at BIGINT NULL
);
CREATE INDEX workstations_by_user ON workstations (user_id);
)sql"},
    {3, R"sql(
-- Approvals (API.md §8). seq orders them newest first; version is bumped by every change and
-- serves as the per-approval lock of a signature (the UPDATE takes the row lock on PostgreSQL;
-- SQLite's BEGIN IMMEDIATE already serialises writers).
CREATE TABLE approvals (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    item_id       TEXT NOT NULL REFERENCES items (id),
    workflow      TEXT NOT NULL,
    eco_number    TEXT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX approvals_by_item ON approvals (item_id, seq);
CREATE INDEX approvals_by_state ON approvals (state, seq);
CREATE INDEX approvals_by_resource ON approvals (resource_type, resource_id);

-- Designated signers, in the order given at creation.
CREATE TABLE approval_signers (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    position    BIGINT NOT NULL,
    username    TEXT NOT NULL,
    role        TEXT NOT NULL,
    PRIMARY KEY (approval_id, position)
);

-- One signature per user and approval; position is the signing order (1, 2, ...), assigned
-- under the approval's row lock.
CREATE TABLE approval_signatures (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    position    BIGINT NOT NULL,
    username    TEXT NOT NULL,
    role        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('approved', 'rejected')),
    comment     TEXT NOT NULL,
    signed_at   BIGINT NOT NULL,
    PRIMARY KEY (approval_id, username),
    UNIQUE (approval_id, position)
);
)sql"},
    {4, R"sql(
CREATE TABLE edit_sessions (
    id              TEXT PRIMARY KEY,
    item_id         TEXT NOT NULL REFERENCES items (id),
    user_id         TEXT NOT NULL,
    username        TEXT NOT NULL,
    workstation_id  TEXT NOT NULL,
    context_level   TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    dependency_cone TEXT NOT NULL,  -- JSON array of node keys
    acquired_at     BIGINT NOT NULL,
    last_heartbeat  BIGINT NOT NULL,
    work_path       TEXT NOT NULL,  -- the holder's uploaded in-progress file ('' when none)
    work_size       BIGINT NOT NULL,
    work_hash       TEXT NOT NULL,
    -- Hard interference: the database lets exactly one session hold an object.
    UNIQUE (item_id, context_level, object_id)
);
CREATE INDEX edit_sessions_by_workstation ON edit_sessions (workstation_id);
CREATE INDEX edit_sessions_by_heartbeat ON edit_sessions (last_heartbeat);
)sql"},
    {5, R"sql(
-- Files (API.md §2 revisions, §6 checkpoints) live in the BlobStore under storage.root_dir and
-- rows name them by blob_key. A row is inserted only after its file is durable on disk, so no
-- row ever points at a missing file; a crash in between leaves an orphan file that the
-- orphan sweep removes.
CREATE TABLE revisions (
    item_id         TEXT NOT NULL REFERENCES items (id),
    revision_number BIGINT NOT NULL,
    comment         TEXT NOT NULL,
    blob_key        TEXT NOT NULL,
    file_size       BIGINT NOT NULL,
    file_hash       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    PRIMARY KEY (item_id, revision_number)
);
CREATE TABLE checkpoints (
    id            TEXT PRIMARY KEY,
    item_id       TEXT NOT NULL REFERENCES items (id),
    user_id       TEXT NOT NULL,
    username      TEXT NOT NULL,
    base_revision BIGINT NOT NULL,
    context       TEXT NOT NULL,
    storage_mode  TEXT NOT NULL,
    blob_key      TEXT NOT NULL,
    file_size     BIGINT NOT NULL,
    file_hash     TEXT NOT NULL,
    pinned        INTEGER NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL  -- 0 when pinned (never expires)
);
CREATE INDEX checkpoints_by_item ON checkpoints (item_id, user_id, created_at);
CREATE INDEX checkpoints_by_expiry ON checkpoints (expires_at);
-- Handoff requests (API.md §7): pending until declined or the session ends.
CREATE TABLE handoff_requests (
    id                    TEXT PRIMARY KEY,
    session_id            TEXT NOT NULL,
    item_id               TEXT NOT NULL REFERENCES items (id),
    requester_id          TEXT NOT NULL,
    requester             TEXT NOT NULL,
    holder_id             TEXT NOT NULL,
    holder                TEXT NOT NULL,
    holder_workstation_id TEXT NOT NULL,
    message               TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('pending', 'declined', 'fulfilled', 'superseded')),
    response              TEXT NOT NULL,  -- the holder's decline message
    created_at            BIGINT NOT NULL,
    resolved_at           BIGINT NOT NULL  -- 0 while pending
);
CREATE INDEX handoff_requests_by_session ON handoff_requests (session_id, status);
-- Pending force-release approvals (API.md §7): one per session at most (the primary key
-- decides between concurrent requests); the row lives while its approval is pending.
CREATE TABLE force_release_requests (
    session_id  TEXT PRIMARY KEY,
    approval_id TEXT NOT NULL,
    admin       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
)sql"},
    {6, R"sql(
-- One pending handoff request per requester and session (issue 20): a second one answers 409
-- with the first. Existing duplicates but the oldest are superseded before the index is built.
UPDATE handoff_requests SET status = 'superseded', resolved_at = created_at
 WHERE status = 'pending' AND EXISTS (
    SELECT 1 FROM handoff_requests o
     WHERE o.status = 'pending' AND o.session_id = handoff_requests.session_id
       AND o.requester_id = handoff_requests.requester_id
       AND (o.created_at < handoff_requests.created_at
            OR (o.created_at = handoff_requests.created_at AND o.id < handoff_requests.id)));
CREATE UNIQUE INDEX handoff_requests_one_pending ON handoff_requests (session_id, requester_id)
 WHERE status = 'pending';
)sql"},
    {7, R"sql(
-- Failed-login counters of the login throttle (issue 13): shared by every instance. key is a
-- SHA-256 of what is counted (a username at an address, or an address).
CREATE TABLE login_failures (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    last_failure BIGINT NOT NULL
);
CREATE INDEX login_failures_by_last ON login_failures (last_failure);
)sql"},
};

}  // namespace

const std::vector<Migration>& postgres_migrations() { return kPostgresMigrations; }

}  // namespace silo::sql

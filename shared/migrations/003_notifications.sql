-- Notifications: one flat table, range-partitioned by month on created_at. A list renders from
-- its own rows plus one batched lookup of actor cards (and of broadcasts), never a join per row.
create type notification_type as enum ('follow', 'message', 'profile_view', 'reaction', 'broadcast', 'post');

create table notifications (
  id          bigint generated always as identity,
  user_id     bigint not null,               -- recipient
  type        notification_type not null,
  actor_id    bigint,                        -- latest actor (null for broadcasts)
  actor_ids   bigint[],                      -- grouped rows: latest distinct actors, newest first
  subject_id  bigint,                        -- conversation, broadcast, post, … by type
  -- Idempotency: one row per (recipient, source event); for grouped rows the group key.
  -- created_at is the event time chosen by the producer (bucket start for grouped rows), so a
  -- retried write lands on the same key and partition.
  dedupe_key  text not null,
  event_keys  text[],                        -- grouped rows: the most recent event keys, for retries
  count       integer not null default 1,
  created_at  timestamptz not null,
  updated_at  timestamptz,                   -- grouped rows: time of the latest event
  read_at     timestamptz
) partition by range (created_at);

-- Partitioned unique indexes must contain the partition key; created_at is deterministic per event.
create unique index notifications_dedupe_key on notifications (user_id, dedupe_key, created_at);
-- The list (newest first, keyset on id) and the unread set (count reconcile, mark read).
create index notifications_user_id_idx on notifications (user_id, id desc);
create index notifications_unread_idx on notifications (user_id, id) where read_at is null;

-- Partitions for this month and the next three; the worker's `partitions` job keeps them ahead
-- and drops the ones past the retention.
do $$
declare
  m date := date_trunc('month', now() at time zone 'utc')::date;
begin
  for i in 0..3 loop
    execute format(
      'create table if not exists %I partition of notifications for values from (%L) to (%L)',
      'notifications_' || to_char(m + make_interval(months => i), 'YYYY_MM'),
      (m + make_interval(months => i))::timestamp at time zone 'utc',
      (m + make_interval(months => i + 1))::timestamp at time zone 'utc');
  end loop;
end $$;

-- Per-member mutes, read at write time (a missing row means nothing is muted).
create table notification_settings (
  user_id     bigint primary key references users (id) on delete cascade,
  muted       notification_type[] not null default '{}',
  updated_at  timestamptz not null default now()
);

-- Operator announcements; a notification refers to one by subject_id.
create table broadcasts (
  id                  bigint generated always as identity primary key,
  title               text not null,
  body                text not null,
  segment             text not null default 'all',
  joined_since        timestamptz,
  created_by          bigint not null references users (id),
  created_at          timestamptz not null default now(),
  recipients_written  bigint not null default 0,
  finished_at         timestamptz
);

-- Each event a grouped notification counted, once, in the transaction that counts it. A job killed
-- between its commit and the mark it then set in Redis was taken over 30 s later, and by then the
-- row's 32 newest event keys no longer held its own (a busy conversation's later messages pushed it
-- out): it counted again, one too many. Kept a day (the worker's daily job drops older marks), far
-- longer than any retry comes.
create table notification_counted (
  user_id     bigint not null,
  event_key   text not null,
  counted_at  timestamptz not null default now(),
  primary key (user_id, event_key)
);
create index notification_counted_at on notification_counted (counted_at);

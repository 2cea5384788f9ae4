-- The list is ordered by latest activity, not by when a row was created: a grouped row that gets
-- a new event ("X and 3 others followed you") moves to the top, where the live event already put
-- it, and a reload shows the same order. `seq` is taken from its own sequence when a row is written
-- and again each time a group counts a new event; ids stay stable (clients and mark-read use them).
create sequence notifications_seq;

alter table notifications add column seq bigint;
-- Existing rows keep their creation order: seq starts at their id, new values come after the
-- largest one.
update notifications set seq = id;
select setval('notifications_seq', greatest(coalesce((select max(id) from notifications), 0), 1));
alter table notifications alter column seq set default nextval('notifications_seq');
alter table notifications alter column seq set not null;
alter sequence notifications_seq owned by notifications.seq;

-- The list (newest activity first, keyset on seq) replaces the index on id.
create index notifications_latest_idx on notifications (user_id, seq desc);
drop index notifications_user_id_idx;

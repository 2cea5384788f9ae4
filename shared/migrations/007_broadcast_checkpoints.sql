-- A broadcast's progress is kept in Postgres too (not only in its BullMQ job): when Redis loses
-- the job (a restart without persistence), a worker re-enqueues the broadcast from here instead of
-- leaving it unfinished for good.
alter table broadcasts add column checkpoint_cursor bigint;
alter table broadcasts add column recipients_scanned bigint not null default 0;
-- the unfinished ones, which the worker looks for every minute
create index broadcasts_unfinished_idx on broadcasts (id) where finished_at is null;

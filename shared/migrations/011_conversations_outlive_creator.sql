-- A member who deletes their account leaves the conversations they started to the others: the
-- creator is forgotten (null), not the conversation, which was deleted with them, for everyone.
alter table conversations drop constraint conversations_created_by_fkey;
alter table conversations alter column created_by drop not null;
alter table conversations add constraint conversations_created_by_fkey
  foreign key (created_by) references users (id) on delete set null;

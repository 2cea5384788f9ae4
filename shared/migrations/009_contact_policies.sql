-- Who may start a conversation with a member, or add them to a group: everyone (no row, the
-- default) or only members they follow. One row per member who chose; read by primary key.
create table contact_policies (
  user_id        bigint primary key references users (id) on delete cascade,
  conversations  text not null check (conversations in ('everyone', 'following'))
);

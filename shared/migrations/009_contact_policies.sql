-- Who may start a conversation with a member, or add them to a group: everyone (no row, the
-- default) or only members they follow. One row per member who chose; read by primary key.
create table contact_policies (
  user_id        bigint primary key references users (id) on delete cascade,
  conversations  text not null check (conversations in ('everyone', 'following'))
);

-- The rule in one place, for every statement that applies it (a profile read, creating a
-- conversation, the group-committed message insert): `member` refuses a new conversation from
-- `starter` when they chose "following" and do not follow them (planned once per session since 010).
create function refuses_conversations_from(member bigint, starter bigint) returns boolean
language sql stable as $$
  select exists (
    select 1 from contact_policies p
    where p.user_id = member and p.conversations = 'following'
      and not exists (select 1 from follows f where f.follower_id = member and f.followee_id = starter)
  )
$$;

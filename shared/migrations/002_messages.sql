-- Conversations (1:1 and small groups) and their messages.
create table conversations (
  id               bigint generated always as identity primary key,
  kind             text not null check (kind in ('direct', 'group')),
  title            text not null default '',
  -- "<low id>:<high id>" for a direct conversation, so a pair has exactly one.
  direct_key       text,
  created_by       bigint not null references users (id) on delete cascade,
  created_at       timestamptz not null default now()
);
create unique index conversations_direct_key on conversations (direct_key) where direct_key is not null;

create table conversation_members (
  conversation_id       bigint not null references conversations (id) on delete cascade,
  user_id               bigint not null references users (id) on delete cascade,
  joined_at             timestamptz not null default now(),
  last_read_message_id  bigint not null default 0,
  primary key (conversation_id, user_id)
);
create index conversation_members_user_idx on conversation_members (user_id, conversation_id);

-- Messages grow without bound: hash-partitioned by conversation so every history read and
-- every dedup check touches one partition's (conversation_id, …) index.
create sequence messages_id_seq;
create table messages (
  id               bigint not null default nextval('messages_id_seq'),
  conversation_id  bigint not null,
  sender_id        bigint not null,
  client_msg_id    uuid not null,
  body             text not null,
  created_at       timestamptz not null default now(),
  primary key (conversation_id, id)
) partition by hash (conversation_id);

do $$
begin
  for i in 0..15 loop
    execute format('create table messages_p%s partition of messages for values with (modulus 16, remainder %s)', i, i);
  end loop;
end $$;

-- A client's retried send (same id) can never write a second row.
create unique index messages_dedup_key on messages (conversation_id, sender_id, client_msg_id);

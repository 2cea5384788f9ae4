-- Members, their sessions, and the social graph. Flat tables, indexed on the columns queried.
create table users (
  id             bigint generated always as identity primary key,
  email          text not null,
  handle         text not null,
  password_hash  text not null,
  birth_date     date not null,
  display_name   text not null default '',
  bio            text not null default '',
  role           text not null default 'member' check (role in ('member', 'admin')),
  terms_accepted_at timestamptz not null,
  created_at     timestamptz not null default now()
);
create unique index users_email_key on users (email);
create unique index users_handle_key on users (handle);

-- Only the SHA-256 of a session id is stored; the id itself lives in the member's cookie.
create table sessions (
  id            bigint generated always as identity primary key,
  token_hash    bytea not null,
  user_id       bigint not null references users (id) on delete cascade,
  created_at    timestamptz not null default now(),
  last_seen_at  timestamptz not null default now(),
  expires_at    timestamptz not null,
  revoked_at    timestamptz,
  user_agent    text not null default '',
  ip            text not null default ''
);
create unique index sessions_token_hash_key on sessions (token_hash);
create index sessions_user_live_idx on sessions (user_id, id) where revoked_at is null;

create table follows (
  id           bigint generated always as identity,
  follower_id  bigint not null references users (id) on delete cascade,
  followee_id  bigint not null references users (id) on delete cascade,
  created_at   timestamptz not null default now(),
  primary key (follower_id, followee_id),
  check (follower_id <> followee_id)
);
-- Keyset pages: followers of X and following of X, newest first; also the fan-out scan.
create index follows_followee_id_idx on follows (followee_id, id) include (follower_id);
create index follows_follower_id_idx on follows (follower_id, id);

create table blocks (
  blocker_id  bigint not null references users (id) on delete cascade,
  blocked_id  bigint not null references users (id) on delete cascade,
  created_at  timestamptz not null default now(),
  primary key (blocker_id, blocked_id),
  check (blocker_id <> blocked_id)
);
create index blocks_blocked_id_idx on blocks (blocked_id, blocker_id);

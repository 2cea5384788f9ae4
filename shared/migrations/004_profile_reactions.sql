-- Profile reactions: one reaction per member per profile; reacting again replaces it.
-- A flat table keyed by (profile, actor); the profile read counts it with one grouped
-- index-only scan of profile_reactions_counts_idx and reads the viewer's own row by primary key.
create type profile_reaction as enum ('like', 'heart', 'fire', 'wink');

create table profile_reactions (
  profile_id  bigint not null references users (id) on delete cascade,
  actor_id    bigint not null references users (id) on delete cascade,
  reaction    profile_reaction not null,
  created_at  timestamptz not null default now(),   -- when the current reaction was chosen
  primary key (profile_id, actor_id),
  check (profile_id <> actor_id)
);
-- Counts per reaction of one profile, in reaction order, without touching the heap.
create index profile_reactions_counts_idx on profile_reactions (profile_id, reaction);
-- The actor side: "my reactions", and the cascade when an account is deleted.
create index profile_reactions_actor_id_idx on profile_reactions (actor_id);

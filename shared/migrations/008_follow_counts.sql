-- Follower and following counts, read with every profile. Counting `follows` on each read would
-- cost a popular member's profile a scan of millions of index entries; a row per member kept by
-- statement-level triggers stays right whatever writes `follows` (the api, a bulk seed, a cascade
-- from a deleted member, a truncate), one aggregated upsert per statement however many rows it
-- touched. A transaction must not write follows again after a statement on it (see block()).
-- Nothing may write follows between the backfill's snapshot and the triggers (a rolling deploy's
-- old api would): those writes would never be counted.
lock table follows in share row exclusive mode;

create table follow_counts (
  user_id    bigint primary key references users (id) on delete cascade,
  followers  bigint not null default 0 check (followers >= 0),
  following  bigint not null default 0 check (following >= 0)
);

insert into follow_counts (user_id, followers, following)
select user_id, sum(followers), sum(following) from (
  select followee_id as user_id, count(*) as followers, 0 as following from follows group by followee_id
  union all
  select follower_id, 0, count(*) from follows group by follower_id
) c group by user_id;

-- Rows are taken in user_id order so that two statements touching the same members never
-- wait on each other in opposite orders (no deadlock between "A follows B" and "B follows A").
create function follow_counts_added() returns trigger language plpgsql as $$
begin
  insert into follow_counts as fc (user_id, followers, following)
  select user_id, sum(followers), sum(following) from (
    select followee_id as user_id, count(*) as followers, 0 as following from added group by followee_id
    union all
    select follower_id, 0, count(*) from added group by follower_id
  ) c group by user_id order by user_id
  on conflict (user_id) do update
    set followers = fc.followers + excluded.followers, following = fc.following + excluded.following;
  return null;
end $$;

-- An update only: a member being deleted may have lost their own row already (the cascades' order
-- is not ours to choose), and an upsert would try to insert it back. The rows are locked in user_id order first, as above.
create function follow_counts_removed() returns trigger language plpgsql as $$
begin
  perform 1 from follow_counts
  where user_id in (select followee_id from removed union select follower_id from removed)
  order by user_id for update;
  update follow_counts fc
  set followers = greatest(fc.followers - d.followers, 0), following = greatest(fc.following - d.following, 0)
  from (
    select user_id, sum(followers) as followers, sum(following) as following from (
      select followee_id as user_id, count(*) as followers, 0 as following from removed group by followee_id
      union all
      select follower_id, 0, count(*) from removed group by follower_id
    ) c group by user_id
  ) d
  where fc.user_id = d.user_id;
  return null;
end $$;

create trigger follows_count_added after insert on follows
  referencing new table as added for each statement execute function follow_counts_added();
create trigger follows_count_removed after delete on follows
  referencing old table as removed for each statement execute function follow_counts_removed();

create function follow_counts_cleared() returns trigger language plpgsql as $$
begin
  update follow_counts set followers = 0, following = 0 where followers <> 0 or following <> 0;
  return null;
end $$;

create trigger follows_count_truncated after truncate on follows
  for each statement execute function follow_counts_cleared();

-- Chat replicas whose pub/sub round trip through Redis works, as each last said (every few seconds,
-- backend-chat health/pubsub-probe.ts). A replica cut off from Redis sends its clients away only
-- when another one can take them: when none can, Redis is down for all, and clients stay put.
create table chat_replica_health (
  replica       text primary key,
  pubsub_ok_at  timestamptz not null
);

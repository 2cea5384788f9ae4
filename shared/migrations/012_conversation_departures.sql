-- The groups a member left: their messages stay there for the others until the member deletes
-- their account, which deletes them (messages has no index on the sender: this is where a deletion
-- finds the conversations it must look in besides the member's own).
create table conversation_departures (
  user_id          bigint not null references users (id) on delete cascade,
  conversation_id  bigint not null references conversations (id) on delete cascade,
  left_at          timestamptz not null default now(),
  primary key (user_id, conversation_id)
);

-- Groups left before this table existed: where a member's messages remain without their membership.
insert into conversation_departures (user_id, conversation_id)
select distinct m.sender_id, m.conversation_id
from messages m
where not exists (select 1 from conversation_members cm where cm.conversation_id = m.conversation_id and cm.user_id = m.sender_id)
  and exists (select 1 from users u where u.id = m.sender_id)
on conflict do nothing;

-- Online state is shown only to those a member has engaged with: someone who adds a stranger to a
-- group, or writes to them, must not learn when they are online until they answer. A member has
-- engaged in a conversation once they created it or sent a message in it.
alter table conversation_members add column engaged boolean not null default false;

update conversation_members m set engaged = true
where exists (select 1 from conversations c where c.id = m.conversation_id and c.created_by = m.user_id)
   or exists (select 1 from messages g where g.conversation_id = m.conversation_id and g.sender_id = m.user_id);

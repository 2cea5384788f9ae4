-- The contact rule of 009, planned once per session instead of once per statement. A SQL function
-- whose body holds a subquery is not inlined: Postgres planned its body again on every statement
-- that called it, and the group-committed message insert paid 150-200 µs of Postgres CPU per batch
-- for it (bench/analysis.md). PL/pgSQL keeps its plans for the life of the connection.
create or replace function refuses_conversations_from(member bigint, starter bigint) returns boolean
language plpgsql stable as $$
begin
  return exists (select 1 from contact_policies p where p.user_id = member and p.conversations = 'following')
    and not exists (select 1 from follows f where f.follower_id = member and f.followee_id = starter);
end
$$;

-- A message from `sender` in the direct conversation `conversation` that `peer` does not take: the
-- peer's rule refuses the sender and the peer neither opened this conversation nor wrote in it (one
-- opened before they chose so stays open; their own message is read, not the engaged flag, which is
-- set after it).
create function refuses_message_from(peer bigint, sender bigint, conversation bigint) returns boolean
language plpgsql stable as $$
begin
  if not refuses_conversations_from(peer, sender) then
    return false;
  end if;
  return not exists (select 1 from conversation_members m where m.conversation_id = conversation and m.user_id = peer and m.engaged)
    and not exists (select 1 from messages o where o.conversation_id = conversation and o.sender_id = peer);
end
$$;
